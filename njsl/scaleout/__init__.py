"""Scale-out: our stages as datatrove pipelines on Local, Slurm and Ray executors, with fsspec I/O."""
