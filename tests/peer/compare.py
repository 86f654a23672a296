"""Compares our tokenizer with the peer's on a corpus, line by line (tests/e2e/tokenizer_peer.sh).
Arguments: CORPUS PEER.jsonl OURS_RAW OURS_FULL OURS_DECODED. Every line must give the same ids
without and with the specials the tokenizer adds, our decoding of our ids must equal the peer's
decoding, and decode(encode(x)) == x on every line that holds no special token.
Prints a summary and each difference; exits 1 on any."""
import json
import sys


def lines(path):
    with open(path, "rb") as f:
        data = f.read().decode("utf-8")
    out = data.split("\n")
    if out and out[-1] == "":
        out.pop()
    return out


def ids(line):
    return [int(x) for x in line.split()]


def main():
    corpus, peer, raw, full, dec = sys.argv[1:6]
    text = lines(corpus)
    peer = [json.loads(x) for x in lines(peer)]
    raw, full, dec = lines(raw), lines(full), lines(dec)
    bad = 0
    if not (len(text) == len(peer) == len(raw) == len(full) == len(dec)):
        print(f"line counts differ: corpus {len(text)}, peer {len(peer)}, ours {len(raw)}/"
              f"{len(full)}/{len(dec)}")
        return 1
    n_tokens = n_round = 0
    for i, x in enumerate(text):
        p = peer[i]
        for what, ours, theirs in (("ids", ids(raw[i]), p["raw"]),
                                   ("ids with specials", ids(full[i]), p["full"])):
            if ours != theirs:
                bad += 1
                print(f"line {i + 1} {x!r}: {what} differ\n  ours: {ours}\n  peer: {theirs}")
        n_tokens += len(p["raw"])
        if dec[i] != p["text"]:
            bad += 1
            print(f"line {i + 1} {x!r}: decoding differs\n  ours: {dec[i]!r}\n  peer: {p['text']!r}")
        if p["text"] == x:  # lines the peer round-trips (no special token in them)
            n_round += 1
        elif dec[i] == p["text"]:
            pass  # a special token dropped by both decoders
        if p["text"] == x and dec[i] != x:
            bad += 1
    print(f"{len(text)} lines, {n_tokens} tokens, {n_round} round-trip exactly; {bad} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
