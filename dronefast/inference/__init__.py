"""Running a trained model: prediction options (:mod:`.options`), tiling and upsampling (:mod:`.tiling`), engines
(:mod:`.engines`), the Predictor (:mod:`.predictor`), output files (:mod:`.files`, :mod:`.batch`), and evaluation
(:mod:`.evaluate`) with its reports (:mod:`.reports`)."""
