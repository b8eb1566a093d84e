"""Pretraining: run configs (:mod:`.config`), data (:mod:`.data`), models (:mod:`.models`), the trainer
(:mod:`.train`) and what follows training (:mod:`.evaluate`). Tokenizers live in the top-level
:mod:`tokenization` package, shared with the taggers and the entropy measure."""
