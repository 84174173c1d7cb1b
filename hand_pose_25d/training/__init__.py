"""Training: settings (:mod:`.train_config`), data mixing (:mod:`.data`) and the loop (:mod:`.trainer`, the only
module that imports torch)."""
