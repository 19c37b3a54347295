"""Real machines and real OOM kills, brought into the simulator.

- rebuild.py: a snapshot (RAM, swap, vm sysctls, tasks with their page counts) → a paused Machine
  whose oom_badness and oom_score equal the kernel's.
"""
