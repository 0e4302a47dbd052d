//! The standard security handler (ISO 32000-1 §7.6.3, ISO 32000-2 §7.6.4),
//! for the one case we may read: an empty user password.
//!
//! Many official PDFs are "encrypted" only to carry owner restrictions (no
//! copy, no print); any reader opens them without a password, so their
//! text must be scanned. When the empty password does not validate, the
//! file is `Encrypted`. RC4 (R2–R4), AES-128 (AESV2) and AES-256 (R5/R6).

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};
use md5::{Digest, Md5};
use sha2::{Sha256, Sha384, Sha512};

use super::syntax::{Dict, Obj};

const PAD: [u8; 32] = [
    0x28, 0xBF, 0x4E, 0x5E, 0x4E, 0x75, 0x8A, 0x41, 0x64, 0x00, 0x4E, 0x56, 0xFF, 0xFA, 0x01, 0x08,
    0x2E, 0x2E, 0x00, 0xB6, 0xD0, 0x68, 0x3E, 0x80, 0x2F, 0x0C, 0xA9, 0xFE, 0x64, 0x53, 0x69, 0x7A,
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Method {
    Rc4,
    Aes128,
    Aes256,
    Identity,
}

/// A file key validated with the empty user password.
pub(crate) struct Crypt {
    key: Vec<u8>,
    strings: Method,
    streams: Method,
}

fn bytes<'o>(d: &'o Dict, k: &[u8]) -> &'o [u8] {
    match d.get(k) {
        Some(Obj::Str(s)) => s,
        _ => &[],
    }
}

fn cf_method(enc: &Dict, which: &[u8]) -> Method {
    let Some(name) = enc.get(which).and_then(Obj::as_name) else {
        return Method::Identity;
    };
    if name == b"Identity" {
        return Method::Identity;
    }
    let cfm = enc
        .get(b"CF")
        .and_then(Obj::as_dict)
        .and_then(|cf| cf.get(name))
        .and_then(Obj::as_dict)
        .and_then(|f| f.get(b"CFM"))
        .and_then(Obj::as_name);
    match cfm {
        Some(b"AESV2") => Method::Aes128,
        Some(b"AESV3") => Method::Aes256,
        Some(b"None") => Method::Identity,
        _ => Method::Rc4,
    }
}

impl Crypt {
    /// `enc` is the resolved `/Encrypt` dictionary, `id0` the first file
    /// identifier. `None`: not the standard handler, or a user password is
    /// needed.
    pub(crate) fn open(enc: &Dict, id0: &[u8]) -> Option<Crypt> {
        if enc.get(b"Filter").and_then(Obj::as_name) != Some(b"Standard") {
            return None;
        }
        let v = enc.get(b"V").and_then(Obj::as_i64).unwrap_or(0);
        let r = enc.get(b"R").and_then(Obj::as_i64).unwrap_or(0);
        let o = bytes(enc, b"O");
        let u = bytes(enc, b"U");
        if r >= 5 {
            let key = aes256_key(enc, r, u)?;
            let (strings, streams) = (cf_method(enc, b"StrF"), cf_method(enc, b"StmF"));
            return Some(Crypt {
                key,
                strings,
                streams,
            });
        }
        let p = enc.get(b"P").and_then(Obj::as_i64).unwrap_or(0) as i32;
        let len = if r == 2 {
            5
        } else {
            (enc.get(b"Length").and_then(Obj::as_i64).unwrap_or(40) / 8).clamp(5, 16) as usize
        };
        let encrypt_metadata = !matches!(enc.get(b"EncryptMetadata"), Some(Obj::Bool(false)));
        // Algorithm 2 with the empty password (which pads to PAD).
        let mut h = Md5::new();
        h.update(PAD);
        h.update(o.get(..32).unwrap_or(o));
        h.update(p.to_le_bytes());
        h.update(id0);
        if r >= 4 && !encrypt_metadata {
            h.update([0xff; 4]);
        }
        let mut key = h.finalize().to_vec();
        if r >= 3 {
            for _ in 0..50 {
                key = Md5::digest(&key[..len]).to_vec();
            }
        }
        key.truncate(len);
        // Algorithms 4/5: check the key against /U.
        let ok = if r == 2 {
            rc4(&key, &PAD).as_slice() == u.get(..32).unwrap_or(u)
        } else {
            let mut h = Md5::new();
            h.update(PAD);
            h.update(id0);
            let mut x = rc4(&key, &h.finalize());
            for i in 1..=19u8 {
                let k: Vec<u8> = key.iter().map(|b| b ^ i).collect();
                x = rc4(&k, &x);
            }
            u.len() >= 16 && x[..16] == u[..16]
        };
        if !ok {
            return None;
        }
        let (strings, streams) = if v >= 4 {
            (cf_method(enc, b"StrF"), cf_method(enc, b"StmF"))
        } else {
            (Method::Rc4, Method::Rc4)
        };
        Some(Crypt {
            key,
            strings,
            streams,
        })
    }

    fn object_key(&self, num: u32, generation: u16, method: Method) -> Vec<u8> {
        if method == Method::Aes256 {
            return self.key.clone();
        }
        let mut h = Md5::new();
        h.update(&self.key);
        h.update(&num.to_le_bytes()[..3]);
        h.update(generation.to_le_bytes());
        if method == Method::Aes128 {
            h.update(b"sAlT");
        }
        let mut k = h.finalize().to_vec();
        k.truncate((self.key.len() + 5).min(16));
        k
    }

    fn apply(&self, data: &[u8], num: u32, generation: u16, method: Method) -> Vec<u8> {
        match method {
            Method::Identity => data.to_vec(),
            Method::Rc4 => rc4(&self.object_key(num, generation, method), data),
            Method::Aes128 | Method::Aes256 => {
                aes_cbc_decrypt(&self.object_key(num, generation, method), data)
            }
        }
    }

    pub(crate) fn stream(&self, data: &[u8], num: u32, generation: u16) -> Vec<u8> {
        self.apply(data, num, generation, self.streams)
    }

    /// Decrypt every string inside a direct object (bounded by the parser's
    /// nesting limit).
    pub(crate) fn strings(&self, obj: &mut Obj, num: u32, generation: u16) {
        match obj {
            Obj::Str(s) => *s = self.apply(s, num, generation, self.strings),
            Obj::Array(a) => a.iter_mut().for_each(|o| self.strings(o, num, generation)),
            Obj::Dict(d) => {
                d.0.iter_mut()
                    .for_each(|(_, o)| self.strings(o, num, generation))
            }
            _ => {}
        }
    }
}

/// R5 (Adobe extension level 3) and R6 (ISO 32000-2) with the empty password.
fn aes256_key(enc: &Dict, r: i64, u: &[u8]) -> Option<Vec<u8>> {
    let ue = bytes(enc, b"UE");
    if u.len() < 48 || ue.len() < 32 {
        return None;
    }
    let (hash, vsalt, ksalt) = (&u[..32], &u[32..40], &u[40..48]);
    let check = if r == 5 {
        Sha256::digest(vsalt).to_vec()
    } else {
        hash_2b(vsalt)
    };
    if check != hash {
        return None;
    }
    let kek = if r == 5 {
        Sha256::digest(ksalt).to_vec()
    } else {
        hash_2b(ksalt)
    };
    // UE is AES-256-CBC with a zero IV and no padding.
    let mut with_iv = vec![0u8; 16];
    with_iv.extend_from_slice(&ue[..32]);
    let key = aes_cbc_raw(&kek, &with_iv);
    (key.len() == 32).then_some(key)
}

/// ISO 32000-2 Algorithm 2.B with the empty password and no user data.
fn hash_2b(salt: &[u8]) -> Vec<u8> {
    let mut k = Sha256::digest(salt).to_vec();
    let mut i = 0u32;
    loop {
        let k1: Vec<u8> = k.repeat(64);
        let (Ok(cipher), Some(iv)) = (aes::Aes128::new_from_slice(&k[..16]), k.get(16..32)) else {
            return k;
        };
        // AES-128-CBC encrypt, no padding (k1 is a multiple of 16 bytes).
        let mut e = Vec::with_capacity(k1.len());
        let mut prev: [u8; 16] = iv.try_into().unwrap_or([0; 16]);
        for block in k1.chunks_exact(16) {
            let mut b = [0u8; 16];
            for j in 0..16 {
                b[j] = block[j] ^ prev[j];
            }
            let mut ga = GenericArray::from(b);
            cipher.encrypt_block(&mut ga);
            prev = ga.into();
            e.extend_from_slice(&prev);
        }
        let m = e[..16].iter().map(|&b| u32::from(b)).sum::<u32>() % 3;
        k = match m {
            0 => Sha256::digest(&e).to_vec(),
            1 => Sha384::digest(&e).to_vec(),
            _ => Sha512::digest(&e).to_vec(),
        };
        i += 1;
        let last = u32::from(*e.last().unwrap_or(&0));
        if i >= 64 && last <= i - 32 {
            break;
        }
        if i > 1000 {
            break;
        }
    }
    k.truncate(32);
    k
}

fn rc4(key: &[u8], data: &[u8]) -> Vec<u8> {
    if key.is_empty() {
        return data.to_vec();
    }
    let mut s: [u8; 256] = std::array::from_fn(|i| i as u8);
    let mut j = 0u8;
    for i in 0..256 {
        j = j.wrapping_add(s[i]).wrapping_add(key[i % key.len()]);
        s.swap(i, usize::from(j));
    }
    let (mut i, mut j) = (0u8, 0u8);
    data.iter()
        .map(|&b| {
            i = i.wrapping_add(1);
            j = j.wrapping_add(s[usize::from(i)]);
            s.swap(usize::from(i), usize::from(j));
            b ^ s[usize::from(s[usize::from(i)].wrapping_add(s[usize::from(j)]))]
        })
        .collect()
}

/// AES-CBC decryption of `iv || ciphertext`, PKCS#7 padding removed.
fn aes_cbc_decrypt(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = aes_cbc_raw(key, data);
    if let Some(&pad) = out.last() {
        let pad = usize::from(pad);
        if (1..=16).contains(&pad) && pad <= out.len() {
            out.truncate(out.len() - pad);
        }
    }
    out
}

/// AES-CBC decryption of `iv || ciphertext` without unpadding; a trailing
/// partial block is dropped (damaged streams still yield their start).
fn aes_cbc_raw(key: &[u8], data: &[u8]) -> Vec<u8> {
    if data.len() < 32 {
        return Vec::new();
    }
    let (iv, body) = data.split_at(16);
    let mut prev: [u8; 16] = iv.try_into().unwrap_or([0; 16]);
    let mut out = Vec::with_capacity(body.len());
    macro_rules! run {
        ($cipher:expr) => {{
            let cipher = $cipher;
            for block in body.chunks_exact(16) {
                let mut ga = GenericArray::clone_from_slice(block);
                cipher.decrypt_block(&mut ga);
                for j in 0..16 {
                    out.push(ga[j] ^ prev[j]);
                }
                prev.copy_from_slice(block);
            }
        }};
    }
    match key.len() {
        16 => match aes::Aes128::new_from_slice(key) {
            Ok(c) => run!(c),
            Err(_) => return Vec::new(),
        },
        32 => match aes::Aes256::new_from_slice(key) {
            Ok(c) => run!(c),
            Err(_) => return Vec::new(),
        },
        _ => return Vec::new(),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rc4_known_answer() {
        // RFC 6229-style check: "Key" / "Plaintext" -> BBF316E8D940AF0AD3.
        assert_eq!(
            rc4(b"Key", b"Plaintext"),
            [0xBB, 0xF3, 0x16, 0xE8, 0xD9, 0x40, 0xAF, 0x0A, 0xD3]
        );
    }
}
