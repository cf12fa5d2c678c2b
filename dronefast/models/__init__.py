"""Where the model is built: encoder names (:mod:`.archs`) and weights (:mod:`.encoders`), the dynamic U-Net
learner (:mod:`.learner`) and its optimizer (:mod:`.optim`), and the safe model format (:mod:`.modelfile`, file locations in :mod:`.files`)."""
