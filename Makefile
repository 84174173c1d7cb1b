# The two commands of the README. Each sets up what it needs (tools/setup_env.sh is idempotent).
.PHONY: test demo env
PYTEST_ARGS ?=

env:
	./tools/setup_env.sh

# HAND_POSE_REQUIRE_ROS=1: a missing ROS runtime fails the ROS tests instead of skipping them.
test: env
	HAND_POSE_REQUIRE_ROS=1 ROS_PYTHON_CHECK_FIELDS=1 .venv/bin/python -m pytest $(PYTEST_ARGS)

demo: env
	.venv/bin/python -m hand_pose_25d.demo
