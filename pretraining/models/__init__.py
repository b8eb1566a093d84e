"""Models: the family registry and Hugging Face backends (:mod:`.registry`), objectives (:mod:`.objectives`),
Mamba/Hyena/masked-LM families (:mod:`.architectures`), analytic counts (:mod:`.counts`), the JSON layout
(:mod:`.json_layout`, :mod:`.presets`) and reading a run config file (:mod:`.run_config`)."""
