"""Real machines and real OOM kills, brought into the simulator.

- rebuild.py: a snapshot (RAM, swap, vm sysctls, tasks with their page counts) → a paused
  Machine whose oom_badness and oom_score equal the kernel's.
- oom_report.py: kernel OOM reports as pasted (dmesg, journalctl -k, syslog; 4.19 … 6.18) → data.
- explain.py: `oomtui explain`: a report's moment rebuilt, the engine's victim beside the kernel's.
- live.py: `oomtui live`: this machine's /proc (and /sys/fs/cgroup) read and rebuilt; the
  predicted OOM kill order.
- app.py: the Textual app on an imported machine (the only module here that imports textual).
"""
