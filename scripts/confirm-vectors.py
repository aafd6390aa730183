#!/usr/bin/env python3
"""Independent confirmation of the generated Cloister vectors in test/vectors/.

Recomputes every output of keys.json, envelope_gcm.json, envelope_siv.json, result.json,
tx.json, contract_address.json and seed_share.json from their inputs with Python's standard
library and the `cryptography` package (X25519, Ed25519, HKDF, AES-GCM, RFC 5297 AES-SIV), and
an RFC 8785 serializer written here from the RFC text, sharing no code with the TypeScript
implementation. Run from the repository root: python3 scripts/confirm-vectors.py
"""

import base64
import hashlib
import json
import math
import struct
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VECTORS = Path(sys.argv[1] if len(sys.argv) > 1 else "test/vectors")
SALT = bytes.fromhex("000000000000000000024bead8df69990852c202db0e0097c1a12ea637d7e96d")
RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
checked = 0


def check(label, got, want):
    global checked
    if got != want:
        sys.exit(f"MISMATCH {label}:\n  got  {got}\n  want {want}")
    checked += 1


def hkdf(ikm, salt, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def x25519_pub(sk):
    return X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes(*RAW)


def x25519(sk, pk):
    return X25519PrivateKey.from_private_bytes(sk).exchange(X25519PublicKey.from_public_bytes(pk))


def iv(i):
    return bytes(8) + struct.pack(">I", i)


# ---- RFC 8785 from the RFC text -------------------------------------------------------------
def es_number(x):
    """ECMAScript Number::toString (ECMA-262 §7.1.12.1, cited by RFC 8785 §3.2.2.3)."""
    if not math.isfinite(x):
        raise ValueError("non-finite")
    if x == 0:
        return "0"
    if x < 0:
        return "-" + es_number(-x)
    mantissa, _, exp = repr(x).partition("e")  # repr gives the shortest round-trip digits
    int_part, _, frac = mantissa.partition(".")
    digits = (int_part + frac).lstrip("0")
    point = len(int_part.lstrip("0")) if int_part.strip("0") else -(len(frac) - len(frac.lstrip("0")))
    n = point + (int(exp) if exp else 0)  # value = 0.digits * 10^n
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{sign}{abs(e)}"


def jcs(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return es_number(float(v))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(jcs(x) for x in v) + "]"
    keys = sorted(v, key=lambda k: k.encode("utf-16-be"))  # UTF-16 code unit order (§3.2.3)
    return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + jcs(v[k]) for k in keys) + "}"


def load(name):
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


# ---- protocol.md §2 --------------------------------------------------------------------------
keys = load("keys.json")
check("salt", keys["salt"], SALT.hex())
for v in keys["vectors"]:
    seed = bytes.fromhex(v["consensus_seed"])
    for label, field in [("io", "io_sk"), ("seed-exchange", "seed_exchange_sk"), ("state", "state"),
                         ("callback", "callback"), ("random", "random")]:
        check(f"keys {v['name']} {label}", hkdf(seed, SALT, b"cloister/" + label.encode(), 32).hex(), v[field])
    check("io_pk", x25519_pub(bytes.fromhex(v["io_sk"])).hex(), v["io_pk"])
    check("seed_exchange_pk", x25519_pub(bytes.fromhex(v["seed_exchange_sk"])).hex(), v["seed_exchange_pk"])
for v in keys["iv"]:
    check(f"IV({v['i']})", iv(v["i"]).hex(), v["iv"])

# ---- protocol.md §3 --------------------------------------------------------------------------
for scheme in ("gcm", "siv"):
    doc = load(f"envelope_{scheme}.json")
    seed = bytes.fromhex(doc["consensus_seed"])
    io_sk = hkdf(seed, SALT, b"cloister/io", 32)
    check("io_sk", io_sk.hex(), doc["io_sk"])
    check("io_pk", x25519_pub(io_sk).hex(), doc["io_pk"])
    for v in doc["vectors"]:
        sk_u, nonce = bytes.fromhex(v["sk_u"]), bytes.fromhex(v["nonce"])
        pk_u = x25519_pub(sk_u)
        shared = x25519(sk_u, bytes.fromhex(doc["io_pk"]))
        check("shared (client side)", shared.hex(), v["shared"])
        check("shared (enclave side)", x25519(io_sk, pk_u).hex(), v["shared"])
        tx_key = hkdf(shared + nonce, SALT, b"", 32)
        check("tx_key", tx_key.hex(), v["tx_key"])
        plaintext = (v["code_hash"] + v["msg_json"]).encode("utf-8")
        check("plaintext", plaintext.hex(), v["plaintext"])
        if scheme == "gcm":
            sealed = AESGCM(tx_key).encrypt(iv(0), plaintext, v["chain_id"].encode("utf-8"))
            envelope = b"\x01" + nonce + pk_u + sealed
        else:
            envelope = nonce + pk_u + AESSIV(tx_key).encrypt(plaintext, [b""])
        check(f"envelope {scheme} {v['name']}", envelope.hex(), v["envelope"])
        check("envelope base64", base64.b64encode(envelope).decode(), v["envelope_base64"])

# ---- protocol.md §4 --------------------------------------------------------------------------
doc = load("result.json")
tx_key = bytes.fromhex(doc["tx_key"])
for v in doc["vectors"]:
    text = jcs(v["result"])
    check(f"result jcs {v['name']}", text, v["result_jcs"])
    pt = text.encode("utf-8")
    check("result gcm", AESGCM(tx_key).encrypt(iv(1), pt, b"").hex(), v["gcm"])
    check("result siv", AESSIV(tx_key).encrypt(pt, [b""]).hex(), v["siv"])

# ---- protocol.md §5 --------------------------------------------------------------------------
doc = load("tx.json")
sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(doc["sk_account"]))
pk = sk.public_key().public_bytes(*RAW)
check("account public key", pk.hex(), doc["public_key"])
check("account address", hashlib.sha256(pk).digest()[:20].hex(), doc["address"])
for v in doc["vectors"]:
    message = ("cloister/tx/v1\n" + jcs(v["body"])).encode("utf-8")
    check(f"sign bytes {v['name']}", message.hex(), v["sign_bytes"])
    check("signature", sk.sign(message).hex(), v["signature"])
    tx = {"body": v["body"], "signature": v["signature"]}
    check("tx jcs", jcs(tx), v["tx_jcs"])
    check("tx hash", hashlib.sha256(jcs(tx).encode("utf-8")).hexdigest(), v["tx_hash"])

for v in load("contract_address.json")["vectors"]:
    pre = b"cloister/contract\n" + v["sender"].encode() + struct.pack(">Q", v["sequence"])
    check(f"contract address {v['sequence']}", hashlib.sha256(pre).digest()[:20].hex(), v["address"])

# ---- protocol.md §8 --------------------------------------------------------------------------
doc = load("seed_share.json")
seed = bytes.fromhex(doc["consensus_seed"])
exchange_sk = hkdf(seed, SALT, b"cloister/seed-exchange", 32)
check("seed_exchange_sk", exchange_sk.hex(), doc["seed_exchange_sk"])
check("seed_exchange_pk", x25519_pub(exchange_sk).hex(), doc["seed_exchange_pk"])
for v in doc["vectors"]:
    sk_reg = bytes.fromhex(v["sk_reg"])
    pk_reg = x25519_pub(sk_reg)
    check("pk_reg", pk_reg.hex(), v["pk_reg"])
    shared = x25519(exchange_sk, pk_reg)
    check("seed share shared (validator side)", shared.hex(), v["shared"])
    check("seed share shared (new node side)", x25519(sk_reg, bytes.fromhex(doc["seed_exchange_pk"])).hex(), v["shared"])
    key = hkdf(shared, SALT, b"cloister/seed-share", 32)
    check("seed share key", key.hex(), v["key"])
    check("seed share", AESGCM(key).encrypt(iv(0), seed, pk_reg).hex(), v["share"])
    check("seed share opens", AESGCM(key).decrypt(iv(0), bytes.fromhex(v["share"]), pk_reg), seed)

# ---- RFC 8785 examples, to show the serializer above is right ---------------------------------
doc = load("rfc8785_jcs.json")
for d in doc["documents"]:
    check(f"rfc8785 {d['name']}", jcs(json.loads(d["input"])), d["output"])
for n in doc["numbers"]:
    check(f"rfc8785 number {n['ieee754']}", es_number(struct.unpack(">d", bytes.fromhex(n["ieee754"]))[0]), n["output"])

print(f"all {checked} checks agree")
