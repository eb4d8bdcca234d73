#!/usr/bin/env python3
"""Makes a Whisper test model that hears nothing and always says TEXT.

Takes a whisper.cpp ggml file (the shared random-weight micro model: real vocabulary,
real layout) and rewrites its decoder so that every transcription, of any audio, is TEXT:
the blocks' output projections are zero (each block adds nothing, so the audio, which
only enters through cross-attention, cannot change the result), position p carries a
direction of its own, and the token to write after position p is the one whose embedding
points that way. The encoder is left as it is, so transcription costs what it costs.
With it, tests can drive what the voice loop "hears" (a sentence end, a trailing "and")
while everything else, VAD and timing included, runs for real.

usage: tests/rig_whisper.py IN.bin OUT.bin TEXT [VOCAB.bin]

VOCAB.bin (optional): take the vocabulary from this file instead (same n_vocab), e.g. the
shared micro model's real one for a model made by `omni synth`, whose vocabulary is letters.
"""
import struct
import sys

A, B = 8.0, 2.0          # position and token scales: the right token wins by e^15 or so
PROMPT = 4               # sot, language, transcribe, notimestamps: text starts at position 4


def main():
    src, dst, text = sys.argv[1], sys.argv[2], sys.argv[3]
    data = open(src, "rb").read()

    def header(buf):
        """hparams, mel filters and vocabulary: (hparams, vocab, end of the vocabulary)"""
        o = 0

        def i32():
            nonlocal o
            v = struct.unpack_from("<i", buf, o)[0]
            o += 4
            return v
        hp = [i32() for _ in range(12)]
        n_mel, n_fft = i32(), i32()
        o += 4 * n_mel * n_fft
        voc = []
        for _ in range(i32()):
            n = i32()
            voc.append(buf[o:o + n])
            o += n
        return hp, voc, o

    hdr, vocab, off = header(data)
    n_vocab, d = hdr[1], hdr[7]
    head = data[:off]
    if len(sys.argv) > 4:
        vdata = open(sys.argv[4], "rb").read()
        vhdr, vocab, vend = header(vdata)
        if vhdr[1] != n_vocab:
            sys.exit("rig_whisper: %s has %d tokens, %s %d" % (sys.argv[4], vhdr[1], src, n_vocab))
        # this file's hparams and mel filters (48 bytes of hparams, then n_mel x n_fft
        # floats), the other's vocabulary
        def filters_end(buf):
            n_mel, n_fft = struct.unpack_from("<ii", buf, 48)
            return 48 + 8 + 4 * n_mel * n_fft
        head = data[:filters_end(data)] + vdata[filters_end(vdata):vend]
    eot = 50257 if n_vocab >= 51865 else 50256

    # TEXT as tokens: greedy longest match over the regular tokens (any split decodes back)
    by_bytes = {}
    for i, t in enumerate(vocab[:eot]):
        if t and t not in by_bytes:
            by_bytes[t] = i
    raw = text.encode()
    toks, k = [], 0
    while k < len(raw):
        for L in range(min(32, len(raw) - k), 0, -1):
            if raw[k:k + L] in by_bytes:
                toks.append(by_bytes[raw[k:k + L]])
                k += L
                break
        else:
            sys.exit("rig_whisper: cannot spell %r" % raw[k:])
    seq = toks + [eot]
    if PROMPT - 1 + len(seq) > d // 2:
        sys.exit("rig_whisper: text too long for width %d" % d)

    def u(p):                       # orthonormal, zero-mean directions, one per position
        v = [0.0] * d
        v[2 * p], v[2 * p + 1] = 0.7071067811865476, -0.7071067811865476
        return v

    out = [head]
    while off < len(data):
        n_dims, name_len, typ = struct.unpack_from("<iii", data, off)
        dims = struct.unpack_from("<%di" % n_dims, data, off + 12)
        name = data[off + 12 + 4 * n_dims:off + 12 + 4 * n_dims + name_len].decode()
        hlen = 12 + 4 * n_dims + name_len
        count = 1
        for x in dims:
            count *= x
        if typ not in (0, 1):
            sys.exit("rig_whisper: %s has type %d (f32 or f16 models only)" % (name, typ))
        size = count * (4 if typ == 0 else 2)
        body = data[off + hlen:off + hlen + size]
        fmt = "<%d%s" % (count, "f" if typ == 0 else "e")
        vals = None
        if name.startswith("decoder.blocks.") and (name.endswith("attn.out.weight") or name.endswith("attn.out.bias") or
                                                  ".mlp.2." in name):
            vals = [0.0] * count
        elif name == "decoder.ln.weight":
            vals = [1.0] * count
        elif name == "decoder.ln.bias":
            vals = [0.0] * count
        elif name == "decoder.positional_embedding":
            vals = [0.0] * count
            for p in range(d // 2):
                vals[p * d:(p + 1) * d] = [A * x for x in u(p)]
        elif name == "decoder.token_embedding.weight":
            vals = [0.0] * count
            for j, t in enumerate(seq):
                p = PROMPT - 1 + j          # the position whose output is token t
                row = vals[t * d:(t + 1) * d]
                vals[t * d:(t + 1) * d] = [r + B * x for r, x in zip(row, u(p))]
        if vals is not None:
            body = struct.pack(fmt, *vals)
        out.append(data[off:off + hlen])
        out.append(body)
        off += hlen + size
    open(dst, "wb").write(b"".join(out))


if __name__ == "__main__":
    main()
