"""Training data: documents → Megatron ``.bin/.idx`` (:mod:`.preprocess`), data mixes (:mod:`.mixes`),
megatron-core blended datasets (:mod:`.gpt_data`) and the trainer's batches over them (:mod:`.batches`)."""
