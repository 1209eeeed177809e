"""Plumbing every layer shares. Nothing here knows about environments, networks or agents.

errors (one-line usage errors, run_main, the argument parser), atomic (atomic writes), memory
(estimate before allocating), numbers (ASCII, finite, 32-bit seeds), toml_config (reading option
files), strict_json (JSON without NaN), safe_npz (npz files checked before they are read),
runfolder (locks, the new/--resume/--overwrite policy, output paths checked first), signals
(Ctrl-C and SIGTERM)."""
