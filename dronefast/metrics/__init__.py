"""Where a metric is computed: pixel accuracy, IoU and Dice from one confusion matrix (:mod:`.functional`), and
the fastai callback and metrics that fill and read it during validation (:mod:`.callback`)."""
