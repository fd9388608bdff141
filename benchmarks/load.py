"""Is the machine busy? The CPU time other processes used while the benchmarks ran.

A timing is only comparable when the measured code had the cores to itself. ``/proc/stat`` counts,
for each CPU, the time spent busy (user, nice, system, irq, softirq, steal) since boot; the
harness's own CPU time, with that of its finished worker processes, comes from ``os.times()``.
Between two snapshots,

    others' cores = (busy seconds of the usable CPUs - our CPU seconds) / wall seconds

is how many of the usable cores the rest of the machine kept busy: cores our timings did not
have. Above ``BUSY_CORES`` the run is marked busy. Load averages (``os.getloadavg``) are kept
too, but they lag by about a minute and count runnable tasks rather than CPU time, so they are
the fallback where ``/proc/stat`` does not exist (macOS, Windows).
"""
import os
import time

BUSY_CORES = 0.25        # others used more than a quarter of a core on average: the run is busy
BUSY_LOAD_PER_CORE = 0.5  # fallback without /proc/stat: a 1-minute load average above this per usable core


def usable_cpus():
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def machine_busy_seconds(cpus=None, path="/proc/stat"):
    """Busy seconds since boot summed over ``cpus`` (default: the usable ones), or None without /proc/stat."""
    cpus = set(usable_cpus() if cpus is None else cpus)
    try:
        with open(path) as stat:
            lines = stat.read().splitlines()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = 0
    for line in lines:
        name, *fields = line.split()
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        values = [int(v) for v in fields] + [0] * 8
        user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
        busy += user + nice + system + irq + softirq + steal  # guest time is already inside user
    return busy / ticks


def own_cpu_seconds():
    """CPU seconds of this process and of its finished (waited-for) children."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def snapshot():
    return {"wall": time.perf_counter(), "machine_busy_s": machine_busy_seconds(), "own_cpu_s": own_cpu_seconds(),
            "load_average": load_average()}


def others_cores(before, after):
    """Average number of usable cores that other processes kept busy between two snapshots (None if unknown)."""
    wall = after["wall"] - before["wall"]
    if before["machine_busy_s"] is None or after["machine_busy_s"] is None or wall <= 0:
        return None
    machine = after["machine_busy_s"] - before["machine_busy_s"]
    ours = after["own_cpu_s"] - before["own_cpu_s"]
    return max(0.0, (machine - ours) / wall)


def sample_others(seconds=1.0):
    """Others' cores over ``seconds`` while this process sleeps: how busy the machine is right now."""
    before = snapshot()
    time.sleep(seconds)
    return others_cores(before, snapshot())


def summary(before, after, idle_sample=None):
    """The load record of one run: others' cores during it (and in a short sample before it), load averages,
    and ``busy`` (True when other work competed for the cores)."""
    cores = others_cores(before, after)
    usable = len(usable_cpus())
    record = {"usable_cpus": usable, "others_cores": None if cores is None else round(cores, 2),
              "others_cores_before": None if idle_sample is None else round(idle_sample, 2),
              "load_average_before": before["load_average"], "load_average_after": after["load_average"],
              "wall_s": round(after["wall"] - before["wall"], 1)}
    measured = [c for c in (cores, idle_sample) if c is not None]
    if measured:
        record["busy"] = max(measured) > BUSY_CORES
        record["method"] = "/proc/stat"
    elif before["load_average"]:
        record["busy"] = before["load_average"][0] > BUSY_LOAD_PER_CORE * usable
        record["method"] = "load average"
    else:
        record["busy"] = None
        record["method"] = "unknown"
    return record


def describe(record):
    """One sentence for a load record, e.g. 'other processes used 1.62 of 2 usable cores on average (...)'."""
    if record.get("others_cores") is not None:
        text = f"other processes used {record['others_cores']:.2f} of {record['usable_cpus']} usable cores on average"
        if record.get("others_cores_before") is not None:
            text += f" ({record['others_cores_before']:.2f} just before the start)"
    else:
        text = "other processes' CPU time was not measured (no /proc/stat, or an older results.json)"
    if record.get("load_average_before") is not None:
        text += f"; load average {record['load_average_before'][0]} -> {(record.get('load_average_after') or ['?'])[0]}"
    return text
