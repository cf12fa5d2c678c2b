"""dronefast's benchmarks: ``python -m benchmarks {train,overhead,prepare,predict,levers,recipes,export}`` from the
repository root. They are a command-line program beside the library, not part of it (nothing in ``dronefast``
imports them).

Modules, one per thing measured, over a shared harness:
    harness   the machinery: variants timed interleaved (round after round, the order rotated) with an injectable
              clock, summaries and ratios, machine info and load, thread and device helpers, generated photos,
              report and option plumbing
    train     one training epoch: (a) the fastai tutorial, (a') fastai with photos resized once, channels-last,
              dronefast's precision and allocator, (b) dronefast, (c) the bare floor step; b/c, a/b,
              a'/b, accuracy
    overhead  the training loop's cost per step beyond the model: a tiny network on the bare loop, dronefast's
              loop (its AdamW) and fastai's loop (its Adam); optimizer and compile levers; with --loop,
              the loop variants at the real configuration (ResNet-34 U-Net, CPU)
    prepare   a naive decode-resize-save loop versus ``dronefast.data.preparation``; full versus draft decoding
    predict   tiled full-resolution prediction of one photo versus the bare forward over the same windows
    levers    the floor training step under each model-side lever (channels-last, bf16, threads, compile)
    recipes   accuracy, not speed: the training recipes trained side by side from scratch and scored on held-out
              test photos at full resolution
    export    PyTorch eager vs ONNX Runtime fp32/int8: per tile, per 6000x4000 photo, agreement, peak memory
    __main__  the command line (one sub-command per benchmark module; ``--json PATH`` writes every sample)

Every timing benchmark reports medians and, with ``--json``, each sample, the machine, and the load average
before and after; on CUDA also images per second and peak GPU memory.
"""
