"""Semantic EQ: descriptors ("warm", "bright") to the SAFE plug-in's 13 EQ parameters.

Modules (import what you need; torch is only imported by `model`, `train` and `default`):
- `normalise`: fixed plug-in-bound normalisation to [0, 1] (log for Hz and Q, linear for dB);
- `generators`: the `SettingGenerator` interface, `MedianGenerator`, `RandomGenerator`, `UnknownTermError`;
- `model`: the residual autoencoder and `LatentEqModel` (term anchors, interpolation, sampling, safetensors);
- `response_torch`: the EQ's magnitude response in torch (the training loss and the anchor search);
- `train`: `fit_eq_model(dataset, EqTrainConfig)` with an annealed supervised contrastive loss;
- `default`: `load_eq_model(model_dir=None)`, the model shipped in `sonolab/assets/eq_default_model`;
- `evaluate`: held-out-contributor metrics beside the reference generators;
- `apply`: loudness-matched, clip-safe processing of audio and files; `plot`: response curves;
- `demo`: `run_eq_demo(out_dir)` for `sonolab demo`.
"""
