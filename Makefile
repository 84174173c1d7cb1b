# The two commands of the README. Each sets up what it needs (tools/setup_env.sh is idempotent).
.PHONY: test test-fast lint format demo env mediapipe
PYTEST_ARGS ?=

env:
	./tools/setup_env.sh

# .venv-mediapipe/ (MediaPipe 0.10.21, separate because it pins numpy < 2): `hand-pose-25d bench` times MediaPipe's
# hand landmark model side by side whenever it exists. Best effort: without PyPI the tests skip the comparison.
# HAND_POSE_SKIP_MEDIAPIPE=1 leaves it out.
mediapipe:
	@if [ "$${HAND_POSE_SKIP_MEDIAPIPE:-0}" = 1 ]; then echo "[make] HAND_POSE_SKIP_MEDIAPIPE=1: no .venv-mediapipe"; \
	else ./tools/setup_mediapipe.sh || echo "[make] warning: tools/setup_mediapipe.sh failed; the MediaPipe comparison is skipped"; fi

# HAND_POSE_REQUIRE_ROS=1: a missing ROS runtime fails the ROS tests instead of skipping them.
test: env mediapipe lint
	HAND_POSE_REQUIRE_ROS=1 ROS_PYTHON_CHECK_FIELDS=1 .venv/bin/python -m pytest $(PYTEST_ARGS)

# The unit tests alone (test/unit: numpy/torch, no ROS process): under a minute.
test-fast: env
	.venv/bin/python -m pytest test/unit -m "not ros" -q $(PYTEST_ARGS)

# ruff (configured in ruff.toml): lint and formatting check; `make format` rewrites the files.
lint: env
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: env
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

demo: env
	.venv/bin/python -m hand_pose_25d.ros.demo
