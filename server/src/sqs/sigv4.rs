//! AWS Signature Version 4, checked as SQS checks it: the request's
//! canonical form (method, path, query, the signed headers, the body's
//! SHA-256) signed with a key derived from the access key's secret, the
//! date, the region and the service named in the credential's scope.
//!
//! The request's date is not compared with the server's clock: a
//! signature stays good for as long as its access key does.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

type HmacSha256 = Hmac<Sha256>;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Why a request's signature is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header that is not SigV4's.
    Malformed,
    /// An access key that is not configured.
    UnknownKey,
    /// The signature is not the request's.
    Mismatch,
}

/// A request as SigV4 signs it.
pub(crate) struct Signed<'a> {
    pub(crate) method: &'a str,
    /// The path, as sent (percent-encoded).
    pub(crate) path: &'a str,
    /// The query string, as sent, without `?`.
    pub(crate) query: &'a str,
    /// The headers, names in lower case, values as sent.
    pub(crate) headers: Vec<(String, &'a [u8])>,
    pub(crate) body: &'a [u8],
}

/// The parts of an `Authorization` header.
struct Authorization<'a> {
    access_key: &'a str,
    /// `<date>/<region>/<service>/aws4_request`.
    scope: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix(ALGORITHM)?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let (access_key, scope) = credential?.split_once('/')?;
    let mut parts = scope.split('/');
    let (date, region, service) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next() != Some("aws4_request") || parts.next().is_some() {
        return None;
    }
    Some(Authorization {
        access_key,
        scope,
        date,
        region,
        service,
        signed_headers: signed_headers?,
        signature: signature?,
    })
}

/// The access key a request is signed with, once its signature is checked
/// against `secrets` (access key to secret key).
pub(crate) fn verify(
    request: &Signed<'_>,
    secrets: &BTreeMap<String, String>,
) -> Result<String, Refusal> {
    let value = header(request, "authorization").ok_or(Refusal::Missing)?;
    let value = std::str::from_utf8(value).map_err(|_| Refusal::Malformed)?;
    let authorization = parse_authorization(value).ok_or(Refusal::Malformed)?;
    let secret = secrets
        .get(authorization.access_key)
        .ok_or(Refusal::UnknownKey)?;
    let signature = unhex(authorization.signature).ok_or(Refusal::Mismatch)?;
    let amz_date = header(request, "x-amz-date")
        .or_else(|| header(request, "date"))
        .and_then(|date| std::str::from_utf8(date).ok())
        .ok_or(Refusal::Malformed)?;
    let canonical =
        canonical_request(request, authorization.signed_headers).ok_or(Refusal::Mismatch)?;
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        authorization.scope,
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{secret}").as_bytes(),
        authorization.date.as_bytes(),
    );
    for part in [authorization.region, authorization.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes a key of any length");
    mac.update(string_to_sign.as_bytes());
    // A comparison in constant time, so that timing tells nothing of the signature.
    mac.verify_slice(&signature)
        .map_err(|_| Refusal::Mismatch)?;
    Ok(authorization.access_key.to_owned())
}

/// The canonical request, or `None` when a signed header is absent.
fn canonical_request(request: &Signed<'_>, signed_headers: &str) -> Option<String> {
    let mut headers = String::new();
    for name in signed_headers.split(';') {
        let values: Vec<String> = request
            .headers
            .iter()
            .filter(|(header, _)| header == name)
            .map(|(_, value)| {
                let value = String::from_utf8_lossy(value);
                value.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect();
        if values.is_empty() {
            return None;
        }
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let path = if request.path.is_empty() {
        "/"
    } else {
        request.path
    };
    Some(format!(
        "{}\n{}\n{}\n{headers}\n{signed_headers}\n{}",
        request.method,
        uri_encode(path, false),
        canonical_query(request.query),
        hex(&Sha256::digest(request.body))
    ))
}

/// The query's parameters, decoded and encoded again SigV4's way, in order.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                uri_encode(&percent_decode(name), true),
                uri_encode(&percent_decode(value), true),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// SigV4's URI encoding: unreserved characters as they are, every other
/// byte as `%XX`; `/` kept in a path. A path is encoded as sent, so its
/// escapes are encoded again, as SigV4 asks of every service but S3.
fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~');
        if unreserved || (byte == b'/' && !encode_slash) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| bytes.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                at += 3;
            }
            None => {
                decoded.push(if bytes[at] == b'+' { b' ' } else { bytes[at] });
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn header<'a>(request: &Signed<'a>, name: &str) -> Option<&'a [u8]> {
    request
        .headers
        .iter()
        .find(|(header, _)| header == name)
        .map(|(_, value)| *value)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    super::response::hex(bytes)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCESS_KEY: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn secrets() -> BTreeMap<String, String> {
        BTreeMap::from([(ACCESS_KEY.to_owned(), SECRET.to_owned())])
    }

    /// AWS's SigV4 test suite's `get-vanilla`: `GET /` to
    /// example.amazonaws.com for service `service`.
    fn get_vanilla(signature: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}"
        )
    }

    fn get_vanilla_request(authorization: &str) -> Signed<'_> {
        Signed {
            method: "GET",
            path: "/",
            query: "",
            headers: vec![
                ("host".to_owned(), b"example.amazonaws.com".as_slice()),
                ("x-amz-date".to_owned(), b"20150830T123600Z".as_slice()),
                ("authorization".to_owned(), authorization.as_bytes()),
            ],
            body: b"",
        }
    }

    #[test]
    fn aws_test_suite_get_vanilla_signature_is_accepted() {
        let authorization =
            get_vanilla("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
        let request = get_vanilla_request(&authorization);
        assert_eq!(verify(&request, &secrets()), Ok(ACCESS_KEY.to_owned()));
    }

    #[test]
    fn a_signature_of_another_request_does_not_match() {
        let authorization =
            get_vanilla("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf32");
        let request = get_vanilla_request(&authorization);
        assert_eq!(verify(&request, &secrets()), Err(Refusal::Mismatch));
    }

    #[test]
    fn an_unknown_access_key_is_refused_before_its_signature_is_checked() {
        let authorization = get_vanilla("00");
        let request = get_vanilla_request(&authorization);
        assert_eq!(verify(&request, &BTreeMap::new()), Err(Refusal::UnknownKey));
    }

    /// botocore's signer (boto3 1.43) on a CreateQueue request of the JSON
    /// protocol at 2015-08-30T12:36:00Z.
    #[test]
    fn botocore_signature_of_a_json_protocol_request_is_accepted() {
        let authorization = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sqs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=01b337158b801a0762da6cb1d54b1c0e9075e1a6b99046259f6871ccb093bb1b";
        let request = Signed {
            method: "POST",
            path: "/",
            query: "",
            headers: vec![
                (
                    "x-amz-target".to_owned(),
                    b"AmazonSQS.CreateQueue".as_slice(),
                ),
                (
                    "content-type".to_owned(),
                    b"application/x-amz-json-1.0".as_slice(),
                ),
                ("host".to_owned(), b"127.0.0.1:9324".as_slice()),
                ("x-amz-date".to_owned(), b"20150830T123600Z".as_slice()),
                ("authorization".to_owned(), authorization.as_bytes()),
            ],
            body: br#"{"QueueName":"q"}"#,
        };
        assert_eq!(verify(&request, &secrets()), Ok(ACCESS_KEY.to_owned()));
    }

    #[test]
    fn a_missing_authorization_header_is_refused() {
        let request = Signed {
            method: "POST",
            path: "/",
            query: "",
            headers: vec![],
            body: b"",
        };
        assert_eq!(verify(&request, &secrets()), Err(Refusal::Missing));
    }
}
