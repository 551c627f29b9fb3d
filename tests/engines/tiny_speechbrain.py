"""A tiny streaming Conformer-transducer with random weights, in the layout StreamingASR loads.

hyperparams.yaml follows speechbrain/asr-streaming-conformer-librispeech (Fbank -> global
input normalization -> CNN front-end -> chunked Conformer encoder -> greedy transducer search with
a unigram SentencePiece tokenizer), only tiny; model.ckpt, normalizer.ckpt and tokenizer.ckpt are
what its Pretrainer collects, made the way training makes them: the normalizer's global mean and
deviation accumulated over speech features (its `count` says how many), the tokenizer trained by
SentencePiece on a small text. It recognizes nothing: tests check shapes and streaming, not words.
"""
from __future__ import annotations

import shutil
from pathlib import Path

N_MELS = 20
VOCAB = 40  # word pieces (the real model has 1000)
TEXT = [
    "the quick brown fox jumps over the lazy dog",
    "streaming speech recognition turns live audio into text",
    "please turn on the kitchen lights",
    "set a timer for ten minutes",
]

HPARAMS = """\
sample_rate: 16000
n_fft: 512
n_mels: {n_mels}
win_length: 32
d_model: 16
joint_dim: 16
dec_dim: 16
output_neurons: {vocab}
blank_index: 0
save_folder: .

compute_features: !new:speechbrain.lobes.features.Fbank
   sample_rate: !ref <sample_rate>
   n_fft: !ref <n_fft>
   n_mels: !ref <n_mels>
   win_length: !ref <win_length>

normalize: !new:speechbrain.processing.features.InputNormalization
   norm_type: global
   update_until_epoch: 4

CNN: !new:speechbrain.lobes.models.convolution.ConvolutionFrontEnd
   input_shape: (8, 10, {n_mels})
   num_blocks: 2
   num_layers_per_block: 1
   out_channels: (8, 4)
   kernel_sizes: (3, 3)
   strides: (2, 2)
   residuals: (False, False)

Transformer: !new:speechbrain.lobes.models.transformer.TransformerASR.TransformerASR
   input_size: {cnn_out}
   tgt_vocab: !ref <output_neurons>
   d_model: !ref <d_model>
   nhead: 2
   num_encoder_layers: 2
   num_decoder_layers: 0
   d_ffn: 32
   dropout: 0.0
   activation: !name:torch.nn.GELU
   encoder_module: conformer
   attention_type: RelPosMHAXL
   normalize_before: True
   causal: False

enc: !new:speechbrain.lobes.models.transformer.TransformerASR.EncoderWrapper
   transformer: !ref <Transformer>

proj_enc: !new:speechbrain.nnet.linear.Linear
   input_size: !ref <d_model>
   n_neurons: !ref <joint_dim>
   bias: False

proj_dec: !new:speechbrain.nnet.linear.Linear
   input_size: !ref <dec_dim>
   n_neurons: !ref <joint_dim>
   bias: False

emb: !new:speechbrain.nnet.embedding.Embedding
   num_embeddings: !ref <output_neurons>
   consider_as_one_hot: True
   blank_id: !ref <blank_index>

dec: !new:speechbrain.nnet.RNN.LSTM
   input_shape: [null, null, {vocab_minus_1}]
   hidden_size: !ref <dec_dim>
   num_layers: 1
   re_init: True

Tjoint: !new:speechbrain.nnet.transducer.transducer_joint.Transducer_joint
   joint: sum
   nonlinearity: !name:torch.nn.LeakyReLU

transducer_lin: !new:speechbrain.nnet.linear.Linear
   input_size: !ref <joint_dim>
   n_neurons: !ref <output_neurons>
   bias: True

Greedysearcher: !new:speechbrain.decoders.transducer.TransducerBeamSearcher
   decode_network_lst: [!ref <emb>, !ref <dec>, !ref <proj_dec>]
   tjoint: !ref <Tjoint>
   classifier_network: [!ref <transducer_lin>]
   blank_id: !ref <blank_index>
   beam_size: 1
   nbest: 1

tokenizer: !new:sentencepiece.SentencePieceProcessor

make_tokenizer_streaming_context: !name:speechbrain.tokenizers.SentencePiece.SentencePieceDecoderStreamingContext
tokenizer_decode_streaming: !name:speechbrain.tokenizers.SentencePiece.spm_decode_preserve_leading_space

make_decoder_streaming_context: !name:speechbrain.decoders.transducer.TransducerGreedySearcherStreamingContext
decoding_function: !name:speechbrain.decoders.transducer.TransducerBeamSearcher.transducer_greedy_decode_streaming
   - !ref <Greedysearcher>

fea_streaming_extractor: !new:speechbrain.lobes.features.StreamingFeatureWrapper
   module: !new:speechbrain.nnet.containers.LengthsCapableSequential
      - !ref <compute_features>
      - !ref <normalize>
      - !ref <CNN>
   properties: !apply:speechbrain.utils.filter_analysis.stack_filter_properties
      - [!ref <compute_features>, !ref <CNN>]

modules:
   CNN: !ref <CNN>
   enc: !ref <enc>
   emb: !ref <emb>
   dec: !ref <dec>
   Tjoint: !ref <Tjoint>
   transducer_lin: !ref <transducer_lin>
   normalize: !ref <normalize>
   proj_dec: !ref <proj_dec>
   proj_enc: !ref <proj_enc>

model: !new:torch.nn.ModuleList
   - [!ref <CNN>, !ref <enc>, !ref <emb>, !ref <dec>, !ref <proj_enc>, !ref <proj_dec>, !ref <transducer_lin>]

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
   collect_in: !ref <save_folder>
   loadables:
      model: !ref <model>
      normalizer: !ref <normalize>
      tokenizer: !ref <tokenizer>
"""


def _train_tokenizer(work: Path) -> tuple[Path, int]:
    """A unigram SentencePiece model, the kind the LibriSpeech transducer uses (word pieces with
    the leading-space marker, which the streaming decoder must carry across chunks)."""
    import sentencepiece as spm

    corpus = work / "corpus.txt"
    corpus.write_text("\n".join(TEXT) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(work / "sp"), model_type="unigram", vocab_size=VOCAB,
        hard_vocab_limit=False, character_coverage=1.0, unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,
        minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_file=str(work / "sp.model"))
    return work / "sp.model", sp.get_piece_size()


def _global_statistics(hparams) -> None:
    """Accumulate the normalizer's global statistics over speech features, as training does."""
    import torch

    from tests.audio_fixtures import speech

    norm = hparams["normalize"]
    norm.train()
    for text in TEXT[2:]:
        wav = torch.from_numpy(speech(text))[None]
        feats = hparams["compute_features"](wav)
        norm(feats, torch.ones(1), epoch=0)
    norm.eval()


def build_tiny_transducer(model_dir: Path, seed: int = 0) -> Path:
    """Write hyperparams.yaml, model.ckpt, normalizer.ckpt and tokenizer.ckpt into `model_dir`."""
    import torch

    from core_service.engines.torchaudio_compat import import_torchaudio

    import_torchaudio()
    from hyperpyyaml import load_hyperpyyaml

    model_dir.mkdir(parents=True, exist_ok=True)
    work = model_dir / "build"
    work.mkdir(exist_ok=True)
    sp_model, vocab = _train_tokenizer(work)
    text = HPARAMS.format(n_mels=N_MELS, vocab=vocab, vocab_minus_1=vocab - 1, cnn_out=(N_MELS // 4) * 4)
    (model_dir / "hyperparams.yaml").write_text(text, encoding="utf-8")
    torch.manual_seed(seed)
    hparams = load_hyperpyyaml(text)
    with torch.no_grad():  # make the joint emit word pieces (some with the ▁ space) on speech
        hparams["transducer_lin"].w.weight.mul_(10.0)
        hparams["transducer_lin"].w.bias.normal_(0.0, 1.0)
        hparams["transducer_lin"].w.bias[0] = 3.0  # blank
    torch.save(hparams["model"].state_dict(), model_dir / "model.ckpt")
    _global_statistics(hparams)
    assert hparams["normalize"].count > 0
    hparams["normalize"]._save(model_dir / "normalizer.ckpt")
    shutil.copy(sp_model, model_dir / "tokenizer.ckpt")
    shutil.rmtree(work)
    return model_dir
