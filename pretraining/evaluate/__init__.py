"""After training: export to a Hugging Face folder (:mod:`.export`), held-out perplexity (:mod:`.perplexity`),
lm-evaluation-harness runs over named task groups (:mod:`.lm_eval`, :mod:`.tasks`), the store's annotation row
(:mod:`.annotation`) and registering a run in the store (:mod:`.register_run`)."""
