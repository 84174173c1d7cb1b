# The two commands of the README. Each sets up what it needs (tools/setup_env.sh is idempotent).
.PHONY: test demo env
PYTEST_ARGS ?=

env:
	./tools/setup_env.sh

test: env
	.venv/bin/python -m pytest $(PYTEST_ARGS)

demo: env
	.venv/bin/python -m hand_pose_25d.demo
