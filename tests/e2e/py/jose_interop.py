"""Independent JOSE implementation (jwcrypto, on OpenSSL via cryptography)
for the interop tests: verify a mijian report, or sign one.

  jose_interop.py verify JWS_FILE JWK_FILE      -> prints the payload, exit 0; exit 1 if invalid
  jose_interop.py sign PAYLOAD_FILE OUT_JWS OUT_JWK
        signs PAYLOAD_FILE (agent_id replaced by the new key's thumbprint)
"""
import json
import sys

from jwcrypto import jwk, jws
from jwcrypto.common import json_encode


def verify(jws_path, jwk_path):
    key = jwk.JWK.from_json(open(jwk_path).read())
    token = jws.JWS()
    token.deserialize(open(jws_path).read())
    try:
        token.verify(key, alg="EdDSA")
    except Exception as e:  # noqa: BLE001 - report any failure as invalid
        print(f"invalid: {e}", file=sys.stderr)
        return 1
    header = token.jose_header
    assert header["alg"] == "EdDSA", header
    assert header["kid"] == key.thumbprint(), (header["kid"], key.thumbprint())
    sys.stdout.buffer.write(token.payload)
    return 0


def sign(payload_path, out_jws, out_jwk):
    key = jwk.JWK.generate(kty="OKP", crv="Ed25519")
    kid = key.thumbprint()
    report = json.load(open(payload_path, encoding="utf-8"))
    report["agent_id"] = kid
    payload = json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode()
    token = jws.JWS(payload)
    token.add_signature(
        key, alg="EdDSA",
        protected=json_encode({"alg": "EdDSA", "kid": kid, "typ": "mijian-report+jws"}),
    )
    open(out_jws, "w").write(token.serialize(compact=False))
    open(out_jwk, "w").write(key.export_public())
    sys.stdout.buffer.write(payload)
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "verify":
        sys.exit(verify(sys.argv[2], sys.argv[3]))
    if cmd == "sign":
        sys.exit(sign(sys.argv[2], sys.argv[3], sys.argv[4]))
    sys.exit(2)
