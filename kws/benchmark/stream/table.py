"""The ``stream`` benchmark's printed table: speed, memory and latency (``format_stream``)."""

from __future__ import annotations

from kws.benchmark.common import Report
from kws.benchmark.stream.workload import FRAMES


def format_stream(report: Report) -> str:
    """The benchmark's table, a line per head, stride, scoring and chunk length, then the
    finest frame-by-frame stride against the coarsest window-scoring one, the memory and the
    latency.

    Args:
        report: from ``bench_stream``, with ``latency`` (``bench_latency``'s, with its
            ``checkpoint``) or None.
    """
    settings = report["settings"]
    before, after = report["load_average"]
    lines = [
        f"{report['audio_s']:g} s of audio, {settings['threads']} CPU thread(s) of "
        f"{report['cpus']} (load {before:.1f} before, {after:.1f} after), batch "
        f"{settings['batch']}, median of {settings['rounds']} rounds",
        "speed: seconds of audio per second of wall time and of the process's CPU time (x real "
        "time); ratios on CPU time, and on wall time where marked",
        f"{'head':<9}{'stride':>7}{'chunk':>6} {'scoring':<8}{'windows':>8}{'detector':>10}"
        f"{'det cpu':>10}{'head cpu':>10}{'loop cpu':>9}{'det/head':>9}{'vs loop':>8}"
        f"{'vs windows':>11}{'(wall)':>8}",
    ]
    for row in report["rows"]:
        for det in row["detectors"]:
            versus = (f"{det['cpu_speed_up_over_windows']:>10.1f}x"
                      f"{det['speed_up_over_windows']:>7.1f}x" if det["scoring"] == FRAMES
                      else f"{'':>11}{'':>8}")  # fmt: skip
            lines.append(
                f"{row['head']:<9}{row['stride_ms']:>5g}ms{det['chunk_ms'] / 1000:>5g}s "
                f"{det['scoring']:<8}{row['windows']:>8}{det['audio_s_per_s']:>9.1f}x"
                f"{det['audio_s_per_cpu_s']:>9.1f}x"
                f"{row['head_alone']['audio_s_per_cpu_s']:>9.1f}x"
                f"{row['loop']['audio_s_per_cpu_s']:>8.1f}x{det['cpu_vs_head_alone']:>8.2f}x"
                f"{det['cpu_speed_up_over_loop']:>7.1f}x{versus}"
            )
    timed = sorted({row["loop"]["windows_timed"] for row in report["rows"]})
    lines.append(
        f"loop: timed on {', '.join(map(str, timed))} windows spread over the stream, scaled to "
        "all; det/head: detector time / head-alone time; vs loop, vs windows: the loop's, the "
        "window-scoring detector's (same chunks) time / the detector's"
    )
    for pair in report["across_strides"]:
        lines.append(
            f"{pair['head']}, {pair['chunk_ms'] / 1000:g} s chunks: frames at "
            f"{pair['frames_stride_ms']:g} ms {pair['cpu_speed_up']:.2f}x as fast as windows at "
            f"{pair['windows_stride_ms']:g} ms (wall {pair['speed_up']:.2f}x)"
        )
    minutes = " / ".join(f"{m:g}" for m in settings["memory_minutes"])
    lines.append(
        f"the process's peak memory in MB (and before) while the detector goes through streams "
        f"of {minutes} min, chunks of {report['rows'][0]['memory']['chunk_ms'] / 1000:g} s:"
    )
    for row in report["rows"]:
        memory = row["memory"]
        peaks = " / ".join(
            "-" if run["peak_rss_mb"] is None
            else f"{run['peak_rss_mb']:.0f} (from {run['rss_before_mb']:.0f})"
            for run in memory["runs"]
        )  # fmt: skip
        growth = "" if memory["growth_mb"] is None else f" (growth {memory['growth_mb']:+.1f})"
        scoring = f"{row['head']} {row['stride_ms']:g} ms {memory['scoring']}"
        lines.append(f"  {scoring}: {peaks}{growth}")
    return "\n".join([*lines, *format_latency(report.get("latency"))])


def format_latency(latency: Report | None) -> list[str]:
    """The latency lines of ``format_stream``; without a checkpoint, that it needs one.

    Args:
        latency: ``bench_latency``'s report with its ``checkpoint``, or None.
    """
    if latency is None:
        return ["latency (keyword end to detection) needs a trained causal checkpoint: "
                "--checkpoint CKPT"]  # fmt: skip
    lines = [
        f"latency, detection time - keyword end, over the keywords detected correctly: "
        f"{latency['checkpoint']}, {latency['audio_s'] / 60:g}-minute word stream of its test "
        f"split, {latency['keywords']} keywords",
        f"{'stride':>6} {'scoring':<8}{'threshold':>10}{'detected':>9}{'false acc':>10}"
        f"{'median':>8}{'p90':>8}",
    ]
    for row in latency["rows"]:
        figures = ("" if row["median_ms"] is None
                   else f"{row['median_ms']:>6.0f}ms{row['p90_ms']:>6.0f}ms")  # fmt: skip
        lines.append(
            f"{row['stride_ms']:>4g}ms {row['scoring']:<8}{row['threshold']:>10.3f}"
            f"{row['detected']:>9}{row['false_accepts']:>10}{figures}"
        )
    for row in latency["rows"]:
        if "mean_abs_difference" in row:
            lines.append(
                f"{row['stride_ms']:>4g}ms windows scored whole against the frame-by-frame "
                f"scores of the same windows: |p difference| mean "
                f"{row['mean_abs_difference']:.4f}, largest {row['max_abs_difference']:.3f}; "
                f"top class differs in {row['top_class_differs']:.2%} of windows"
            )
    return [*lines, *dict.fromkeys(row["threshold_source"] for row in latency["rows"])]
