"""Where the model is built: encoder names (:mod:`.archs`) and weights (:mod:`.encoders`), the dynamic U-Net
learner (:mod:`.learner`) and its optimizer (:mod:`.optim`), the safe model format (:mod:`.modelfile`, file locations
in :mod:`.description`), the input normalisation (:mod:`.normalise`), and the window grid (:mod:`.grid`) and tiled
forward passes (:mod:`.tiling`) that training, calibration and prediction share."""
