"""Benchmarks (``hand-pose-25d bench``): what is measured and how, kept apart from the code being measured.

* :mod:`.bench_config` -- :class:`BenchSettings`, what to measure;
* :mod:`.measure` -- the network, the pipeline and MediaPipe side by side (:func:`run_benchmark`,
  :func:`format_report`);
* :mod:`.stats` -- latency percentiles and call timing (the one percentile helper of the package);
* :mod:`.machine` -- CPU, memory, GPUs and package versions (the one versions probe);
* :mod:`.mediapipe_worker` -- the script run by path in MediaPipe's own Python environment.

Importing this package imports nothing heavy.
"""
