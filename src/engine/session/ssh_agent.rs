//! An in-process ssh-agent for key files (`ssh: default=/path/key`), as buildx's
//! `sshprovider` serves them: it lists its identities and signs with them
//! (draft-miller-ssh-agent §4.4, §4.5); every other request gets SSH_AGENT_FAILURE. The
//! key never leaves this process: BuildKit's step talks to it through the session.

use signature::Signer;
use ssh_key::{Algorithm, HashAlg, PrivateKey};

pub use crate::plan::load_ssh_key as load_key;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const FAILURE: u8 = 5;
const REQUEST_IDENTITIES: u8 = 11;
const IDENTITIES_ANSWER: u8 = 12;
const SIGN_REQUEST: u8 = 13;
const SIGN_RESPONSE: u8 = 14;
/// SSH_AGENT_RSA_SHA2_512: the only RSA signature this agent makes.
const RSA_SHA2_512: u32 = 4;
/// A request larger than this is not an agent request (OpenSSH's own limit is 256 KiB).
const MAX_MESSAGE: usize = 256 * 1024;

/// Answer agent requests on `io` until the other side closes it.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    keys: &[PrivateKey],
    mut io: S,
) -> std::io::Result<()> {
    loop {
        let mut len = [0u8; 4];
        match io.read_exact(&mut len).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_MESSAGE {
            return Err(std::io::Error::other("ssh agent request too large"));
        }
        let mut msg = vec![0u8; len];
        io.read_exact(&mut msg).await?;
        let reply = answer(keys, &msg);
        io.write_all(&(reply.len() as u32).to_be_bytes()).await?;
        io.write_all(&reply).await?;
    }
}

/// The reply to one request (without its length prefix).
pub fn answer(keys: &[PrivateKey], msg: &[u8]) -> Vec<u8> {
    match msg.split_first() {
        Some((&REQUEST_IDENTITIES, _)) => identities(keys).unwrap_or_else(|| vec![FAILURE]),
        Some((&SIGN_REQUEST, body)) => sign(keys, body).unwrap_or_else(|| vec![FAILURE]),
        _ => vec![FAILURE],
    }
}

fn identities(keys: &[PrivateKey]) -> Option<Vec<u8>> {
    let mut out = vec![IDENTITIES_ANSWER];
    out.extend_from_slice(&u32::try_from(keys.len()).ok()?.to_be_bytes());
    for key in keys {
        put_string(&mut out, &key.public_key().to_bytes().ok()?);
        put_string(&mut out, key.comment().as_bytes());
    }
    Some(out)
}

fn sign(keys: &[PrivateKey], body: &[u8]) -> Option<Vec<u8>> {
    let (blob, rest) = take_string(body)?;
    let (data, rest) = take_string(rest)?;
    let flags = rest
        .get(..4)
        .map_or(0, |f| u32::from_be_bytes([f[0], f[1], f[2], f[3]]));
    let key = keys
        .iter()
        .find(|k| k.public_key().to_bytes().ok().as_deref() == Some(blob))?;
    // ssh-key signs RSA with SHA-512 only; a client asking for another hash is refused
    // rather than given a signature it did not ask for.
    if matches!(key.algorithm(), Algorithm::Rsa { .. }) && flags & RSA_SHA2_512 == 0 {
        return None;
    }
    let sig: ssh_key::Signature = key.try_sign(data).ok()?;
    let algorithm = match sig.algorithm() {
        Algorithm::Rsa { .. } => Algorithm::Rsa {
            hash: Some(HashAlg::Sha512),
        },
        a => a,
    };
    let mut encoded = Vec::new();
    put_string(&mut encoded, algorithm.as_str().as_bytes());
    put_string(&mut encoded, sig.as_bytes());
    let mut out = vec![SIGN_RESPONSE];
    put_string(&mut out, &encoded);
    Some(out)
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

fn take_string(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let rest = &b[4..];
    Some((rest.get(..len)?, &rest[len..]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use signature::Verifier;

    /// A throwaway key made for this test with `ssh-keygen -t ed25519 -N "" -C test-key`.
    const ED25519: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACAjJDa0MIw+MXmgIAW8lSTRKmkiAR9bU8BaiCKS4xhikgAAAJAsMC3gLDAt
4AAAAAtzc2gtZWQyNTUxOQAAACAjJDa0MIw+MXmgIAW8lSTRKmkiAR9bU8BaiCKS4xhikg
AAAEAXmw9BLOx6hunptCqtBCtmKBW8Vp6Ji4cnvOTMh1nMQCMkNrQwjD4xeaAgBbyVJNEq
aSIBH1tTwFqIIpLjGGKSAAAACHRlc3Qta2V5AQIDBAU=
-----END OPENSSH PRIVATE KEY-----
";

    #[test]
    fn lists_its_key_and_signs_what_the_key_verifies() {
        let key = load_key(ED25519.as_bytes()).unwrap();
        let keys = [key.clone()];
        let ids = answer(&keys, &[REQUEST_IDENTITIES]);
        assert_eq!(ids[0], IDENTITIES_ANSWER);
        assert_eq!(&ids[1..5], &1u32.to_be_bytes());
        let (blob, rest) = take_string(&ids[5..]).unwrap();
        assert_eq!(blob, key.public_key().to_bytes().unwrap());
        assert_eq!(take_string(rest).unwrap().0, b"test-key");

        let mut req = vec![SIGN_REQUEST];
        put_string(&mut req, blob);
        put_string(&mut req, b"session data");
        req.extend_from_slice(&0u32.to_be_bytes());
        let resp = answer(&keys, &req);
        assert_eq!(resp[0], SIGN_RESPONSE);
        let (sig, _) = take_string(&resp[1..]).unwrap();
        let (alg, rest) = take_string(sig).unwrap();
        assert_eq!(alg, b"ssh-ed25519");
        let (raw, _) = take_string(rest).unwrap();
        let sig = ssh_key::Signature::new(Algorithm::Ed25519, raw.to_vec()).unwrap();
        key.public_key()
            .key_data()
            .verify(b"session data", &sig)
            .unwrap();
        // Another key's blob, or another request, is refused.
        let mut other = vec![SIGN_REQUEST];
        put_string(&mut other, b"not a key");
        put_string(&mut other, b"x");
        assert_eq!(answer(&keys, &other), [FAILURE]);
        assert_eq!(answer(&keys, &[17]), [FAILURE]);
    }

    #[test]
    fn a_key_that_cannot_be_used_is_named_not_shown() {
        let e = load_key(b"-----BEGIN RSA PRIVATE KEY-----\nsecretstuff\n").unwrap_err();
        assert!(
            e.contains("not an OpenSSH private key") && !e.contains("secretstuff"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn serves_requests_over_a_stream_until_it_closes() {
        let keys = [load_key(ED25519.as_bytes()).unwrap()];
        let (mut client, server) = tokio::io::duplex(4096);
        let agent = tokio::spawn(async move { serve(&keys, server).await });
        client.write_all(&1u32.to_be_bytes()).await.unwrap();
        client.write_all(&[REQUEST_IDENTITIES]).await.unwrap();
        let mut len = [0u8; 4];
        client.read_exact(&mut len).await.unwrap();
        let mut reply = vec![0u8; u32::from_be_bytes(len) as usize];
        client.read_exact(&mut reply).await.unwrap();
        assert_eq!(reply[0], IDENTITIES_ANSWER);
        drop(client);
        agent.await.unwrap().unwrap();
    }
}
