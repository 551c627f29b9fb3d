"""A tiny paraformer-online model with random weights, laid out like a ModelScope snapshot.

Built with FunASR's own classes (`ParaformerStreaming`, `SANMEncoderChunkOpt`,
`ParaformerSANMDecoder`, `CifPredictorV2`, `WavFrontendOnline`, `CharTokenizer`) from the
same config.yaml keys as paraformer-zh-streaming, only much smaller, so the real streaming
inference path runs in milliseconds. The directory holds what a ModelScope snapshot of
iic/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-online holds: configuration.json
(whose file_path_metas AutoModel resolves: the loading branch real snapshots take), config.yaml,
model.pt, am.mvn, tokens.json and seg_dict. Its vocabulary mixes CJK characters with English
word pieces (`hel@@`, `lo`), as the real one does. It recognizes nothing: tests check shapes,
not words.
"""
from __future__ import annotations

import json
from pathlib import Path

N_MELS = 80
LFR_M, LFR_N = 7, 6
D_MODEL = 32
# <blank>, <s>, </s> first (paraformer's fixed ids), <unk> last; CJK characters and English
# word pieces between (a piece ending in @@ continues in the next token).
TOKENS = ["<blank>", "<s>", "</s>", "你", "好", "世", "界", "语", "音", "识", "别",
          "hel@@", "lo", "wor@@", "ld", "ok", "<unk>"]
PIECE_BIAS = 1.0  # enough for words split across chunks, CJK still appears
SEG_DICT = {"hello": "hel@@ lo", "world": "wor@@ ld", "ok": "ok"}
# What ModelScope's snapshot of paraformer-zh-streaming carries, with our model name.
CONFIGURATION = {
    "framework": "pytorch",
    "task": "auto-speech-recognition",
    "model": {"type": "funasr"},
    "pipeline": {"type": "funasr-pipeline"},
    "model_name_in_hub": {"ms": "iic/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-online", "hf": ""},
    "file_path_metas": {
        "init_param": "model.pt",
        "config": "config.yaml",
        "tokenizer_conf": {"token_list": "tokens.json", "seg_dict_file": "seg_dict"},
        "frontend_conf": {"cmvn_file": "am.mvn"},
    },
}

CONFIG = f"""\
model: ParaformerStreaming
model_conf:
  ctc_weight: 0.0
  lsm_weight: 0.1
  length_normalized_loss: true
  predictor_weight: 1.0
  predictor_bias: 1
  sampling_ratio: 0.75
encoder: SANMEncoderChunkOpt
encoder_conf:
  output_size: {D_MODEL}
  attention_heads: 2
  linear_units: 64
  num_blocks: 2
  dropout_rate: 0.1
  positional_dropout_rate: 0.1
  attention_dropout_rate: 0.1
  input_layer: pe_online
  pos_enc_class: SinusoidalPositionEncoder
  normalize_before: true
  kernel_size: 11
  sanm_shfit: 0
  selfattention_layer_type: sanm
  chunk_size: [12, 15]
  stride: [8, 10]
  pad_left: [0, 0]
  encoder_att_look_back_factor: [4, 4]
  decoder_att_look_back_factor: [1, 1]
decoder: ParaformerSANMDecoder
decoder_conf:
  attention_heads: 2
  linear_units: 64
  num_blocks: 2
  dropout_rate: 0.1
  positional_dropout_rate: 0.1
  self_attention_dropout_rate: 0.1
  src_attention_dropout_rate: 0.1
  att_layer_num: 2
  kernel_size: 11
  sanm_shfit: 5
predictor: CifPredictorV2
predictor_conf:
  idim: {D_MODEL}
  threshold: 1.0
  l_order: 1
  r_order: 0
  tail_threshold: 0.45
frontend: WavFrontendOnline
frontend_conf:
  fs: 16000
  window: hamming
  n_mels: {N_MELS}
  frame_length: 25
  frame_shift: 10
  lfr_m: {LFR_M}
  lfr_n: {LFR_N}
  dither: 0.0
tokenizer: CharTokenizer
tokenizer_conf:
  unk_symbol: <unk>
  split_with_space: true
input_size: {N_MELS * LFR_M}
"""


def _am_mvn(dim: int) -> str:
    """A Kaldi nnet cmvn file (AddShift/Rescale), the format WavFrontend's load_cmvn reads."""
    zeros = " ".join(["0"] * dim)
    ones = " ".join(["0.1"] * dim)
    return (
        "<Nnet>\n"
        f"<Splice> {dim} {dim}\n[ 0 ]\n"
        f"<AddShift> {dim} {dim}\n<LearnRateCoef> 0 [ {zeros} ]\n"
        f"<Rescale> {dim} {dim}\n<LearnRateCoef> 0 [ {ones} ]\n"
        "</Nnet>\n"
    )


def build_tiny_paraformer(model_dir: Path, seed: int = 0, snapshot: bool = True) -> Path:
    """Write configuration.json (if `snapshot`), config.yaml, tokens.json, seg_dict, am.mvn and a
    random-weight model.pt into `model_dir`."""
    import torch

    from core_service.engines.torchaudio_compat import import_torchaudio

    import_torchaudio()
    from funasr.register import tables
    import funasr.models.paraformer_streaming.model  # noqa: F401  (registers the classes)
    from omegaconf import OmegaConf

    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.yaml").write_text(CONFIG, encoding="utf-8")
    (model_dir / "tokens.json").write_text(json.dumps(TOKENS, ensure_ascii=False), encoding="utf-8")
    (model_dir / "am.mvn").write_text(_am_mvn(N_MELS * LFR_M), encoding="utf-8")
    (model_dir / "seg_dict").write_text("".join(f"{w} {p}\n" for w, p in SEG_DICT.items()), encoding="utf-8")
    if snapshot:
        (model_dir / "configuration.json").write_text(json.dumps(CONFIGURATION, indent=2), encoding="utf-8")

    conf = OmegaConf.to_container(OmegaConf.create(CONFIG), resolve=True)
    torch.manual_seed(seed)
    model_class = tables.model_classes[conf["model"]]
    model = model_class(**conf, vocab_size=len(TOKENS))
    # Bias the CIF predictor so that it fires a token every few frames on any input.
    with torch.no_grad():
        model.predictor.cif_output.bias.fill_(1.0)
        # and favour the English pieces, so that words split across chunks occur
        for piece in ("hel@@", "lo", "wor@@", "ld"):
            model.decoder.output_layer.bias[TOKENS.index(piece)] += PIECE_BIAS
    torch.save(model.state_dict(), model_dir / "model.pt")
    return model_dir
