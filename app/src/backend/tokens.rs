//! JSON Web Tokens of the /v2 API: the access tokens Guise signs (Ed25519, keys in the
//! database sealed with the server key, public halves at `/.well-known/jwks.json`) and the
//! checks on the subject tokens API clients sign themselves (HS256 with their secret).
//!
//! The checks are pure — token text, keys and the time in, claims or a precise refusal out —
//! so each rule is unit-tested on its own.

use super::secrets::{random_bytes, ServerKey};
use super::store::{self, Database};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Digest;
use std::collections::HashMap;

pub const ISSUER: &str = "guise";
pub const AUDIENCE: &str = "guise-api";
/// The `typ` header of access tokens (RFC 9068), so no other kind of JWT passes for one.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// Lifetime of an access token from client credentials.
pub const ACCESS_TOKEN_SECONDS: i64 = 3600;
/// Clock skew tolerated on subject tokens, which clients sign with their own clocks.
pub const SUBJECT_LEEWAY_SECONDS: i64 = 60;
/// Tolerance on our own tokens between servers.
pub const ACCESS_LEEWAY_SECONDS: u64 = 30;
/// How far ahead a strict subject token may expire.
pub const STRICT_MAX_LIFETIME_SECONDS: i64 = 300;
/// Largest subject or actor token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Longest `jti`, `sub` or `tenant` claim accepted.
pub const MAX_CLAIM_CHARS: usize = 256;
/// Most actors a delegation chain (`act` nested in `act`) may name.
pub const MAX_CHAIN: usize = 4;

pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The subject-token type of a webapp ticket (a code webapp's backend exchanges it).
pub const TOKEN_TYPE_WEBAPP_TICKET: &str = "urn:guise:params:oauth:token-type:webapp-ticket";
/// The `typ` header and audience of webapp tickets: neither kind of token passes for the other.
pub const TICKET_TYP: &str = "guise-ticket+jwt";
pub const TICKET_AUDIENCE: &str = "guise-webapp-ticket";

/// How strictly a client's self-signed subject tokens are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectPolicy {
    /// `exp` (at most 5 minutes ahead), `iat` and a single-use `jti` required.
    Strict,
    /// The widely documented minimal form: `sub` (and optional `tenant`) is enough.
    Compatible,
}

impl SubjectPolicy {
    pub fn as_db(self) -> &'static str {
        match self {
            SubjectPolicy::Strict => "strict",
            SubjectPolicy::Compatible => "compatible",
        }
    }

    pub fn from_db(word: &str) -> Option<Self> {
        match word {
            "strict" => Some(SubjectPolicy::Strict),
            "compatible" => Some(SubjectPolicy::Compatible),
            _ => None,
        }
    }
}

impl TryFrom<String> for SubjectPolicy {
    type Error = String;

    fn try_from(word: String) -> Result<Self, String> {
        Self::from_db(&word).ok_or_else(|| format!("unknown subject policy {word:?}"))
    }
}

/// One link of a delegation chain (RFC 8693 §4.1): who acted, through which client, and who
/// acted before them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    pub uid: i64,
    pub client_id: String,
    /// The client's secret version at the exchange: rotating it retires derived tokens too.
    #[serde(default)]
    pub cv: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

impl Actor {
    /// The actors from the current one back to the first.
    pub fn chain(&self) -> Vec<&Actor> {
        let mut links = vec![self];
        while let Some(prior) = links.last().and_then(|a| a.act.as_deref()) {
            links.push(prior);
        }
        links
    }
}

/// The claims of an access token Guise issues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The email of the user the token acts as.
    pub sub: String,
    pub uid: i64,
    pub tenant: String,
    pub client_id: String,
    /// The client's secret version at issue: rotating the secret retires older tokens.
    pub cv: i64,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// Present on impersonation tokens: who really acts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// Impersonation tokens: the impersonation their exchange started, which every action done
    /// with the token is audited under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imp: Option<i64>,
    /// Tokens of a code webapp's backend: the webapp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa: Option<i64>,
    /// A webapp's token for its browser user: the scopes it may use (space-separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl AccessClaims {
    /// A token a webapp's backend got by exchanging a ticket: it acts as the browser user.
    pub fn is_webapp_user_token(&self) -> bool {
        self.wa.is_some() && self.act.is_some()
    }

    pub fn is_impersonation(&self) -> bool {
        self.act.is_some()
    }
}

/// The claims of a webapp ticket: the proxy gives one with each request to a code webapp's
/// backend, naming the browser user; the backend exchanges it once, within a minute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketClaims {
    pub iss: String,
    pub aud: String,
    /// The browser user's email.
    pub sub: String,
    pub uid: i64,
    pub tenant: String,
    /// The webapp the ticket is for.
    pub wa: i64,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// When the browser user is being impersonated in the UI: that impersonation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imp: Option<i64>,
}

/// At most `max` characters of a value a client sent, for messages and audit rows.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A fresh token id.
pub fn new_jti() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

/// Why an access token (ours) is not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessTokenError {
    Malformed,
    NotAnAccessToken,
    UnknownKey,
    BadSignature,
    Expired,
    Invalid(String),
}

impl AccessTokenError {
    pub fn message(&self) -> String {
        match self {
            AccessTokenError::Malformed => "the token is not a JWT".into(),
            AccessTokenError::NotAnAccessToken => "the token is not a Guise access token".into(),
            AccessTokenError::UnknownKey => "the token is signed with a key this server does not know".into(),
            AccessTokenError::BadSignature => "the token signature is invalid".into(),
            AccessTokenError::Expired => "the token has expired".into(),
            AccessTokenError::Invalid(why) => format!("the token is invalid: {why}"),
        }
    }
}

/// The server's signing key and every key it still accepts.
pub struct TokenKeys {
    kid: String,
    signing: Signing,
    ticket_signing: Signing,
    verifying: HashMap<String, DecodingKey>,
    jwks: JwkSet,
    verified: VerifiedTokens,
}

/// Access tokens this process has verified, by the SHA-256 of their text. A client sends the
/// same token with every call until it expires, and checking its Ed25519 signature again each
/// time was the largest single cost of an API request. Only the signature check is skipped:
/// the token's times are checked on every use, and the caller checks its client and its
/// impersonation afresh as for any token. The keys never change while the process runs, so a
/// signature that verified once stays verified.
#[derive(Default)]
struct VerifiedTokens(std::sync::Mutex<HashMap<[u8; 32], AccessClaims>>);

/// Verified tokens kept; past that, expired ones are dropped (or all, if none has expired).
const VERIFIED_TOKENS_KEPT: usize = 4096;

impl VerifiedTokens {
    fn digest(token: &str) -> [u8; 32] {
        sha2::Sha256::digest(token.as_bytes()).into()
    }

    /// The claims of a token verified before, if it is still in its time window at `now`.
    fn get(&self, digest: &[u8; 32], now: i64) -> Option<AccessClaims> {
        let kept = self.0.lock().ok()?;
        kept.get(digest).filter(|claims| in_time(claims, now)).cloned()
    }

    fn keep(&self, digest: [u8; 32], claims: &AccessClaims, now: i64) {
        let Ok(mut kept) = self.0.lock() else { return };
        if kept.len() >= VERIFIED_TOKENS_KEPT {
            kept.retain(|_, claims| in_time(claims, now));
            if kept.len() >= VERIFIED_TOKENS_KEPT {
                kept.clear();
            }
        }
        kept.insert(digest, claims.clone());
    }
}

/// The time checks `verify` makes, with the same leeway.
fn in_time(claims: &AccessClaims, now: i64) -> bool {
    let leeway = ACCESS_LEEWAY_SECONDS as i64;
    claims.exp >= now - leeway && claims.nbf <= now + leeway
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// The key that signs, ready to sign: jsonwebtoken's `encode` derives the Ed25519 key from its
/// PKCS#8 form for every token, which cost as much as the signature itself.
struct Signing {
    key: ed25519_dalek::SigningKey,
    /// The token's first part, the same for every token: the base64url of its JSON header.
    header: String,
}

impl Signing {
    fn new(kid: &str, pkcs8: &[u8], typ: &str) -> Result<Self, String> {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let key = ed25519_dalek::SigningKey::from_pkcs8_der(pkcs8).map_err(|e| format!("signing key {kid} is unusable: {e}"))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        header.typ = Some(typ.into());
        let header = serde_json::to_vec(&header).map_err(|e| format!("cannot encode a token header: {e}"))?;
        Ok(Signing { key, header: URL_SAFE_NO_PAD.encode(header) })
    }

    /// A compact JWS (RFC 7515 §7.1): header, claims and signature, each base64url.
    fn sign(&self, claims: &impl Serialize) -> Result<String, String> {
        use ed25519_dalek::Signer;
        let claims = serde_json::to_vec(claims).map_err(|e| format!("cannot encode a token: {e}"))?;
        let mut token = String::with_capacity(self.header.len() + claims.len() * 4 / 3 + 90);
        token.push_str(&self.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let signature = self.key.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        Ok(token)
    }
}

/// The PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410 §7): the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

fn pkcs8_from_seed(seed: &[u8; 32]) -> Vec<u8> {
    [&ED25519_PKCS8_PREFIX[..], &seed[..]].concat()
}

impl TokenKeys {
    /// Keys from (kid, PKCS#8 private key) pairs, the first being the one that signs.
    pub fn from_private_keys(keys: &[(String, Vec<u8>)]) -> Result<Self, String> {
        let (kid, first) = keys.first().ok_or("no signing key")?;
        let mut verifying = HashMap::new();
        let mut jwks = JwkSet { keys: Vec::new() };
        for (kid, der) in keys {
            let encoding = EncodingKey::from_ed_der(der);
            let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::EdDSA)
                .map_err(|e| format!("signing key {kid} is unusable: {e}"))?;
            jwk.common.key_id = Some(kid.clone());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            jwk.common.key_algorithm = Some(KeyAlgorithm::EdDSA);
            let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| format!("signing key {kid} is unusable: {e}"))?;
            verifying.insert(kid.clone(), decoding);
            jwks.keys.push(jwk);
        }
        Ok(TokenKeys {
            kid: kid.clone(),
            signing: Signing::new(kid, first, ACCESS_TOKEN_TYP)?,
            ticket_signing: Signing::new(kid, first, TICKET_TYP)?,
            verifying,
            jwks,
            verified: VerifiedTokens::default(),
        })
    }

    /// A new random Ed25519 key: its id and PKCS#8 form.
    pub fn generate_key() -> (String, Vec<u8>) {
        let kid = URL_SAFE_NO_PAD.encode(random_bytes::<9>());
        (kid, pkcs8_from_seed(&random_bytes::<32>()))
    }

    /// Keys that live only as long as the process (tests).
    pub fn ephemeral() -> Self {
        Self::from_private_keys(&[Self::generate_key()]).expect("a freshly generated Ed25519 key is valid")
    }

    /// The public keys, as published at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    pub fn issue(&self, claims: &AccessClaims) -> Result<String, String> {
        self.signing.sign(claims)
    }

    pub fn issue_ticket(&self, claims: &TicketClaims) -> Result<String, String> {
        self.ticket_signing.sign(claims)
    }

    /// Checks a webapp ticket: our key, EdDSA, the ticket `typ` and audience, every claim, and
    /// no leeway on its expiry (it lives a minute). Never cached: each is used once.
    pub fn verify_ticket(&self, token: &str) -> Result<TicketClaims, AccessTokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AccessTokenError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AccessTokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some(TICKET_TYP) {
            return Err(AccessTokenError::Invalid("it is not a Guise webapp ticket".into()));
        }
        let key = header.kid.as_deref().and_then(|kid| self.verifying.get(kid)).ok_or(AccessTokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[TICKET_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<TicketClaims>(token, key, &validation).map(|data| data.claims).map_err(decode_error)
    }

    /// Checks one of our access tokens: our key, our algorithm, our issuer and audience,
    /// every claim present and in its time window. A token verified before is only checked
    /// for its times (`VerifiedTokens`).
    pub fn verify(&self, token: &str) -> Result<AccessClaims, AccessTokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AccessTokenError::Malformed);
        }
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let digest = VerifiedTokens::digest(token);
        if let Some(claims) = self.verified.get(&digest, now) {
            return Ok(claims);
        }
        let claims = self.verify_signature(token)?;
        self.verified.keep(digest, &claims, now);
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> Result<AccessClaims, AccessTokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AccessTokenError::NotAnAccessToken)?;
        if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return Err(AccessTokenError::NotAnAccessToken);
        }
        let key = header.kid.as_deref().and_then(|kid| self.verifying.get(kid)).ok_or(AccessTokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = ACCESS_LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(decode_error)
            .and_then(|claims| check_chain_depth(&claims).map(|_| claims))
    }
}

fn decode_error(e: jsonwebtoken::errors::Error) -> AccessTokenError {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidSignature => AccessTokenError::BadSignature,
        ErrorKind::ExpiredSignature => AccessTokenError::Expired,
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => AccessTokenError::Malformed,
        other => AccessTokenError::Invalid(format!("{other:?}")),
    }
}

fn check_chain_depth(claims: &AccessClaims) -> Result<(), AccessTokenError> {
    match &claims.act {
        Some(act) if act.chain().len() > MAX_CHAIN => Err(AccessTokenError::Invalid("the delegation chain is too long".into())),
        _ => Ok(()),
    }
}

/// Loads the signing keys from the database, creating the first one on first start.
pub async fn load_or_create(db: &Database, server_key: &ServerKey) -> Result<TokenKeys, String> {
    let fail = |e: sqlx::Error| format!("cannot read the signing keys: {e}");
    let mut rows = store::signing_keys::active(&db.read).await.map_err(fail)?;
    if rows.is_empty() {
        let (kid, der) = TokenKeys::generate_key();
        let sealed = server_key.seal(&der, &signing_key_context(&kid));
        if store::signing_keys::insert_first(&db.writer, &kid, "EdDSA", &sealed).await.map_err(fail)? {
            tracing::info!("created token signing key {kid}");
        }
        rows = store::signing_keys::active(&db.read).await.map_err(fail)?;
    }
    let keys = rows
        .into_iter()
        .map(|(kid, sealed)| {
            server_key
                .open(&sealed, &signing_key_context(&kid))
                .map(|der| (kid.clone(), der))
                .map_err(|e| format!("signing key {kid}: {e} (is GUISE_KEY_FILE the key this database was created with?)"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    TokenKeys::from_private_keys(&keys)
}

fn signing_key_context(kid: &str) -> String {
    format!("signing_key:{kid}")
}

// ---------------------------------------------------------------------------------------
// Subject tokens: JWTs a client signs itself (HS256, its own secret) naming whom to act as.

/// What a subject token says, once accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectClaims {
    /// The email of the user to impersonate.
    pub sub: String,
    pub tenant: Option<String>,
    pub jti: Option<String>,
    /// Seconds since the epoch.
    pub exp: Option<i64>,
    pub iat: Option<i64>,
}

/// How a self-signed subject token is kept from being used twice.
#[derive(Debug, PartialEq, Eq)]
pub struct ReplayGuard {
    /// Its `jti`, or (without one) the hash of the whole token.
    pub key: String,
    /// Until when (seconds) it could still be replayed; `None`: for ever (no `exp`, no `iat`).
    pub until: Option<i64>,
}

/// Every self-signed subject token is single-use: by its `jti`, or by its hash when it has none
/// (a compatible client may send tokens with neither `jti` nor `exp`, which would otherwise
/// impersonate for ever once leaked). It must be remembered while it could be accepted.
pub fn replay_guard(token: &str, claims: &SubjectClaims) -> ReplayGuard {
    let key = match &claims.jti {
        Some(jti) => jti.clone(),
        None => {
            let digest = sha2::Sha256::digest(token.as_bytes());
            format!("sha256:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
        }
    };
    let until = claims
        .exp
        .or(claims.iat.map(|iat| iat.saturating_add(STRICT_MAX_LIFETIME_SECONDS)))
        .map(|t| t.saturating_add(SUBJECT_LEEWAY_SECONDS));
    ReplayGuard { key, until }
}

/// Reads a JWT's header without trusting it, to say precisely what is wrong with it.
fn peek_header(token: &str) -> Result<Map<String, Value>, String> {
    let encoded = token.split('.').next().unwrap_or("");
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|_| "subject_token is not a JWT (its header is not base64url)".to_string())?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(header)) => Ok(header),
        _ => Err("subject_token is not a JWT (its header is not a JSON object)".into()),
    }
}

/// The header checks: a three-part JWT, `alg` exactly HS256, `kid` naming the authenticated
/// client.
pub fn check_subject_header(token: &str, client_id: &str) -> Result<(), String> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(format!("subject_token is too large ({} bytes; at most {MAX_TOKEN_BYTES})", token.len()));
    }
    if token.split('.').count() != 3 {
        return Err("subject_token is not a JWT (expected three dot-separated parts)".into());
    }
    let header = peek_header(token)?;
    match header.get("alg").and_then(Value::as_str) {
        Some("HS256") => {}
        Some("none") | Some("None") | Some("NONE") => return Err("subject_token is unsigned (alg none); only HS256 is accepted".into()),
        Some(other) => return Err(format!("subject_token alg {} is not accepted; only HS256", clip(other, 20))),
        None => return Err("subject_token header has no alg".into()),
    }
    match header.get("kid") {
        Some(Value::String(kid)) if kid == client_id => Ok(()),
        Some(Value::String(_)) => Err("subject_token kid does not name the authenticated client".into()),
        Some(_) => Err("subject_token kid must be a string (the client id)".into()),
        None => Err("subject_token header has no kid (it must be the client id)".into()),
    }
}

/// Verifies the HS256 signature with the client's secret and returns the claims unchecked.
pub fn verify_subject_signature(token: &str, secret: &[u8]) -> Result<Map<String, Value>, String> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Map<String, Value>>(token, &DecodingKey::from_secret(secret), &validation)
        .map(|data| data.claims)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => "subject_token signature does not match the client secret".to_string(),
                ErrorKind::Json(_) => "subject_token claims are not a JSON object".to_string(),
                _ => "subject_token is not a valid JWT".to_string(),
            }
        })
}

/// A NumericDate claim (RFC 7519): a JSON number of seconds, when present.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, String> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64)) {
            Some(seconds) => Ok(Some(seconds)),
            None => Err(format!("subject_token claim {name} is out of range")),
        },
        Some(_) => Err(format!("subject_token claim {name} must be a number (seconds since 1970)")),
    }
}

fn text_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Err(format!("subject_token claim {name} is empty")),
        Some(Value::String(s)) if s.chars().count() > MAX_CLAIM_CHARS => {
            Err(format!("subject_token claim {name} is too long (at most {MAX_CLAIM_CHARS} characters)"))
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(format!("subject_token claim {name} must be a string")),
    }
}

/// The claim rules of a client's policy, at `now` (seconds).
pub fn check_subject_claims(claims: &Map<String, Value>, policy: SubjectPolicy, now: i64) -> Result<SubjectClaims, String> {
    let sub = text_claim(claims, "sub")?
        .ok_or("subject_token has no sub claim (the email of the user to impersonate)")?;
    let tenant = text_claim(claims, "tenant")?;
    let jti = text_claim(claims, "jti")?;
    let (exp, nbf, iat) = (numeric_date(claims, "exp")?, numeric_date(claims, "nbf")?, numeric_date(claims, "iat")?);
    let leeway = SUBJECT_LEEWAY_SECONDS;
    if let Some(exp) = exp {
        if exp.saturating_add(leeway) <= now {
            return Err("subject_token has expired".into());
        }
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err("subject_token is not valid yet (nbf is in the future)".into());
    }
    if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err("subject_token was issued in the future (iat)".into());
    }
    if iat.is_some_and(|iat| iat.saturating_add(STRICT_MAX_LIFETIME_SECONDS + leeway) < now) {
        return Err(format!(
            "subject_token was issued too long ago (iat more than {STRICT_MAX_LIFETIME_SECONDS} seconds back)"
        ));
    }
    if policy == SubjectPolicy::Strict {
        let exp = exp.ok_or("subject_token has no exp claim, which this client's strict policy requires")?;
        if exp > now.saturating_add(STRICT_MAX_LIFETIME_SECONDS + leeway) {
            return Err(format!(
                "subject_token expires too far ahead (at most {STRICT_MAX_LIFETIME_SECONDS} seconds under the strict policy)"
            ));
        }
        if iat.is_none() {
            return Err("subject_token has no iat claim, which this client's strict policy requires".into());
        }
        if jti.is_none() {
            return Err("subject_token has no jti claim, which this client's strict policy requires".into());
        }
    }
    Ok(SubjectClaims { sub, tenant, jti, exp, iat })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn strict_ok() -> Value {
        json!({"sub": "carol@tshirts.example", "exp": NOW + 120, "iat": NOW, "jti": "abc"})
    }

    #[test]
    fn compatible_accepts_the_minimal_form_and_strict_does_not() {
        let minimal = claims(json!({"sub": "carol@tshirts.example"}));
        let accepted = check_subject_claims(&minimal, SubjectPolicy::Compatible, NOW).unwrap();
        assert_eq!(accepted, SubjectClaims { sub: "carol@tshirts.example".into(), tenant: None, jti: None, exp: None, iat: None });
        assert!(check_subject_claims(&minimal, SubjectPolicy::Strict, NOW).unwrap_err().contains("no exp"));
        assert!(check_subject_claims(&claims(strict_ok()), SubjectPolicy::Strict, NOW).is_ok());
    }

    #[test]
    fn strict_requires_iat_and_jti_and_a_short_exp() {
        let mut c = claims(strict_ok());
        c.remove("iat");
        assert!(check_subject_claims(&c, SubjectPolicy::Strict, NOW).unwrap_err().contains("no iat"));
        let mut c = claims(strict_ok());
        c.remove("jti");
        assert!(check_subject_claims(&c, SubjectPolicy::Strict, NOW).unwrap_err().contains("no jti"));
        let mut c = claims(strict_ok());
        c.insert("exp".into(), json!(NOW + 3600));
        assert!(check_subject_claims(&c, SubjectPolicy::Strict, NOW).unwrap_err().contains("too far ahead"));
        // Within the limit plus the clock-skew leeway is fine.
        c.insert("exp".into(), json!(NOW + 360));
        assert!(check_subject_claims(&c, SubjectPolicy::Strict, NOW).is_ok());
    }

    #[test]
    fn time_claims_must_be_numbers_and_in_their_window_under_both_policies() {
        for policy in [SubjectPolicy::Strict, SubjectPolicy::Compatible] {
            let mut c = claims(strict_ok());
            c.insert("exp".into(), json!("1800000120"));
            assert!(check_subject_claims(&c, policy, NOW).unwrap_err().contains("exp must be a number"));
            let mut c = claims(strict_ok());
            c.insert("exp".into(), json!(NOW - 61));
            assert!(check_subject_claims(&c, policy, NOW).unwrap_err().contains("expired"));
            // Expired by less than the leeway still passes.
            c.insert("exp".into(), json!(NOW - 30));
            assert!(check_subject_claims(&c, policy, NOW).is_ok());
            let mut c = claims(strict_ok());
            c.insert("iat".into(), json!(NOW + 600));
            assert!(check_subject_claims(&c, policy, NOW).unwrap_err().contains("future"));
            let mut c = claims(strict_ok());
            c.insert("nbf".into(), json!(NOW + 600));
            assert!(check_subject_claims(&c, policy, NOW).unwrap_err().contains("not valid yet"));
            let mut c = claims(strict_ok());
            c.insert("nbf".into(), json!(true));
            assert!(check_subject_claims(&c, policy, NOW).unwrap_err().contains("nbf must be a number"));
            // Absurd values neither overflow nor pass.
            let mut c = claims(strict_ok());
            c.insert("exp".into(), json!(i64::MAX));
            let result = check_subject_claims(&c, policy, NOW);
            assert!(policy == SubjectPolicy::Compatible || result.unwrap_err().contains("too far ahead"));
            c.insert("exp".into(), json!(1e300));
            assert!(policy == SubjectPolicy::Compatible || check_subject_claims(&c, policy, NOW).is_err());
            c.insert("exp".into(), json!(-1e300));
            assert!(check_subject_claims(&c, policy, NOW).unwrap_err().contains("expired"));
            // Fractional NumericDates are numbers too.
            let mut c = claims(strict_ok());
            c.insert("iat".into(), json!(NOW as f64 + 0.5));
            assert!(check_subject_claims(&c, policy, NOW).is_ok());
        }
    }

    #[test]
    fn sub_tenant_and_jti_must_be_sensible_strings() {
        let policy = SubjectPolicy::Compatible;
        assert!(check_subject_claims(&claims(json!({})), policy, NOW).unwrap_err().contains("no sub"));
        assert!(check_subject_claims(&claims(json!({"sub": 42})), policy, NOW).unwrap_err().contains("sub must be a string"));
        assert!(check_subject_claims(&claims(json!({"sub": " "})), policy, NOW).unwrap_err().contains("empty"));
        let long = "a".repeat(MAX_CLAIM_CHARS + 1);
        assert!(check_subject_claims(&claims(json!({"sub": long})), policy, NOW).unwrap_err().contains("too long"));
        assert!(check_subject_claims(&claims(json!({"sub": "a@b", "tenant": ["*"]})), policy, NOW)
            .unwrap_err()
            .contains("tenant must be a string"));
        let ok = check_subject_claims(&claims(json!({"sub": "a@b", "tenant": "TShirts Co.", "jti": "j"})), policy, NOW).unwrap();
        assert_eq!((ok.tenant.as_deref(), ok.jti.as_deref()), (Some("TShirts Co."), Some("j")));
    }

    fn hs(alg: Algorithm, kid: Option<&str>, secret: &[u8], body: Value) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&header, &body, &jsonwebtoken::EncodingKey::from_secret(secret)).unwrap()
    }

    #[test]
    fn subject_headers_allow_only_hs256_with_the_clients_kid() {
        let ok = hs(Algorithm::HS256, Some("client-a"), b"s", strict_ok());
        assert_eq!(check_subject_header(&ok, "client-a"), Ok(()));
        assert!(check_subject_header(&ok, "client-b").unwrap_err().contains("kid does not name"));
        let no_kid = hs(Algorithm::HS256, None, b"s", strict_ok());
        assert!(check_subject_header(&no_kid, "client-a").unwrap_err().contains("no kid"));
        let hs512 = hs(Algorithm::HS512, Some("client-a"), b"s", strict_ok());
        assert!(check_subject_header(&hs512, "client-a").unwrap_err().contains("HS512 is not accepted"));
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"client-a"}"#);
        let body = URL_SAFE_NO_PAD.encode(strict_ok().to_string());
        assert!(check_subject_header(&format!("{header}.{body}."), "client-a").unwrap_err().contains("alg none"));
        let rs = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"client-a"}"#);
        assert!(check_subject_header(&format!("{rs}.{body}.c2ln"), "client-a").unwrap_err().contains("RS256"));
        assert!(check_subject_header("not-a-jwt", "client-a").unwrap_err().contains("not a JWT"));
        assert!(check_subject_header("!!.e30.x", "client-a").unwrap_err().contains("not a JWT"));
        assert!(check_subject_header(&"a".repeat(MAX_TOKEN_BYTES + 1), "client-a").unwrap_err().contains("too large"));
    }

    #[test]
    fn reflected_values_are_clipped() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip(&"é".repeat(30), 4), "éééé…");
    }

    #[test]
    fn subject_signatures_need_the_clients_secret() {
        let token = hs(Algorithm::HS256, Some("c"), b"right secret", strict_ok());
        assert_eq!(verify_subject_signature(&token, b"right secret").unwrap()["sub"], json!("carol@tshirts.example"));
        assert!(verify_subject_signature(&token, b"wrong secret").unwrap_err().contains("does not match"));
        // A signature made for HS512 never verifies as HS256.
        let hs512 = hs(Algorithm::HS512, Some("c"), b"right secret", strict_ok());
        assert!(verify_subject_signature(&hs512, b"right secret").is_err());
    }

    fn access_claims(now: i64, act: Option<Actor>) -> AccessClaims {
        AccessClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: "alice@tshirts.example".into(),
            uid: 1,
            tenant: "TShirts Co.".into(),
            client_id: "c".into(),
            cv: 1,
            iat: now,
            nbf: now,
            exp: now + ACCESS_TOKEN_SECONDS,
            jti: new_jti(),
            act,
            imp: None,
            wa: None,
            scope: None,
        }
    }

    fn ticket_claims(now: i64) -> TicketClaims {
        TicketClaims {
            iss: ISSUER.into(),
            aud: TICKET_AUDIENCE.into(),
            sub: "u1@tshirts.example".into(),
            uid: 3,
            tenant: "TShirts Co.".into(),
            wa: 7,
            iat: now,
            nbf: now,
            exp: now + 60,
            jti: new_jti(),
            imp: None,
        }
    }

    #[test]
    fn a_ticket_is_not_an_access_token_and_back() {
        let keys = TokenKeys::ephemeral();
        let ticket = keys.issue_ticket(&ticket_claims(now())).unwrap();
        assert_eq!(keys.verify_ticket(&ticket).unwrap().uid, 3);
        assert_eq!(keys.verify(&ticket).unwrap_err(), AccessTokenError::NotAnAccessToken);
        let access = keys.issue(&access_claims(now(), None)).unwrap();
        assert!(matches!(keys.verify_ticket(&access).unwrap_err(), AccessTokenError::Invalid(_)));
        // A ticket signed with another server's key, or with the access audience, is refused.
        assert_eq!(TokenKeys::ephemeral().verify_ticket(&ticket).unwrap_err(), AccessTokenError::UnknownKey);
        let wrong_audience = keys.issue_ticket(&TicketClaims { aud: AUDIENCE.into(), ..ticket_claims(now()) }).unwrap();
        assert!(matches!(keys.verify_ticket(&wrong_audience).unwrap_err(), AccessTokenError::Invalid(_)));
    }

    #[test]
    fn an_expired_ticket_gets_no_leeway() {
        let keys = TokenKeys::ephemeral();
        let past = now() - 61;
        let ticket = keys.issue_ticket(&ticket_claims(past)).unwrap();
        assert_eq!(keys.verify_ticket(&ticket).unwrap_err(), AccessTokenError::Expired);
    }

    fn now() -> i64 {
        store::now_ms() / 1000
    }

    #[test]
    fn access_tokens_verify_only_with_our_keys_and_in_time() {
        let keys = TokenKeys::ephemeral();
        let claims = access_claims(now(), None);
        let token = keys.issue(&claims).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), claims);
        // Another server's keys do not know the token's key.
        assert_eq!(TokenKeys::ephemeral().verify(&token).unwrap_err(), AccessTokenError::UnknownKey);
        let expired = keys.issue(&AccessClaims { exp: now() - 120, ..claims.clone() }).unwrap();
        assert_eq!(keys.verify(&expired).unwrap_err(), AccessTokenError::Expired);
        let wrong_audience = keys.issue(&AccessClaims { aud: "elsewhere".into(), ..claims.clone() }).unwrap();
        assert!(matches!(keys.verify(&wrong_audience).unwrap_err(), AccessTokenError::Invalid(_)));
        // A tampered payload breaks the signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&AccessClaims { uid: 2, ..claims.clone() }).unwrap());
        assert_eq!(keys.verify(&parts.join(".")).unwrap_err(), AccessTokenError::BadSignature);
        // An HS256 token (say, a subject token) never passes for an access token.
        let hs = hs(Algorithm::HS256, Some("c"), b"s", serde_json::to_value(&claims).unwrap());
        assert_eq!(keys.verify(&hs).unwrap_err(), AccessTokenError::NotAnAccessToken);
        assert_eq!(keys.verify("garbage").unwrap_err(), AccessTokenError::NotAnAccessToken);
    }

    #[test]
    fn issued_tokens_are_standard_jws_that_the_published_key_verifies() {
        let (old, new) = (TokenKeys::generate_key(), TokenKeys::generate_key());
        let keys = TokenKeys::from_private_keys(&[new.clone(), old.clone()]).unwrap();
        let claims = access_claims(now(), None);
        let token = keys.issue(&claims).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!((header.alg, header.typ.as_deref(), header.kid.as_deref()), (Algorithm::EdDSA, Some(ACCESS_TOKEN_TYP), Some(new.0.as_str())));
        // Any JWT library verifies it with the key from the JWKS, and no other key.
        let published = |kid: &str| keys.jwks().find(kid).map(|jwk| DecodingKey::from_jwk(jwk).unwrap()).unwrap();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[claims.aud.as_str()]);
        let decoded = jsonwebtoken::decode::<AccessClaims>(&token, &published(&new.0), &validation).unwrap();
        assert_eq!(decoded.claims, claims);
        assert!(jsonwebtoken::decode::<AccessClaims>(&token, &published(&old.0), &validation).is_err());
        // A key that is not Ed25519 PKCS#8 is refused with its id named.
        let broken = TokenKeys::from_private_keys(&[("k1".into(), vec![1, 2, 3])]).unwrap_err();
        assert!(broken.contains("k1"), "{broken}");
    }

    #[test]
    fn a_token_verified_before_is_still_checked_for_its_times() {
        let keys = TokenKeys::ephemeral();
        let claims = access_claims(now(), None);
        let token = keys.issue(&claims).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), claims);
        assert_eq!(keys.verify(&token).unwrap(), claims, "verified again, from what was kept");
        // Kept claims that have run out since (the clock moved on) no longer pass.
        let digest = VerifiedTokens::digest(&token);
        let ran_out = AccessClaims { exp: now() - 120, ..claims.clone() };
        keys.verified.keep(digest, &ran_out, now());
        assert!(keys.verified.get(&digest, now()).is_none());
        // Then the token is verified in full again, and passes on its own (valid) claims.
        assert_eq!(keys.verify(&token).unwrap(), claims);
        // A token that differs by one character is another token: its signature is checked.
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(keys.verify(&tampered).is_err());
        // A refused token is never kept.
        assert!(keys.verified.get(&VerifiedTokens::digest(&tampered), now()).is_none());
    }

    #[test]
    fn verified_tokens_stay_bounded() {
        let kept = VerifiedTokens::default();
        let claims = access_claims(now(), None);
        for i in 0..VERIFIED_TOKENS_KEPT + 10 {
            kept.keep(VerifiedTokens::digest(&i.to_string()), &claims, now());
        }
        assert!(kept.0.lock().unwrap().len() <= VERIFIED_TOKENS_KEPT);
    }

    #[test]
    fn act_chains_nest_and_are_bounded() {
        let keys = TokenKeys::ephemeral();
        let first = Actor { sub: "a@x".into(), uid: 1, client_id: "c1".into(), cv: 1, act: None };
        let second = Actor { sub: "b@x".into(), uid: 2, client_id: "c2".into(), cv: 1, act: Some(Box::new(first)) };
        assert_eq!(second.chain().iter().map(|a| a.uid).collect::<Vec<_>>(), vec![2, 1]);
        let token = keys.issue(&access_claims(now(), Some(second.clone()))).unwrap();
        assert_eq!(keys.verify(&token).unwrap().act, Some(second.clone()));
        let mut long = second;
        for uid in 3..=5 {
            long = Actor { sub: format!("{uid}@x"), uid, client_id: "c".into(), cv: 1, act: Some(Box::new(long)) };
        }
        let token = keys.issue(&access_claims(now(), Some(long))).unwrap();
        assert!(matches!(keys.verify(&token).unwrap_err(), AccessTokenError::Invalid(_)));
    }

    #[test]
    fn the_jwks_publishes_the_public_key_only() {
        let keys = TokenKeys::ephemeral();
        let jwks = serde_json::to_value(keys.jwks()).unwrap();
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["alg"], "EdDSA");
        assert_eq!(key["kid"], json!(keys.kid));
        assert!(key.get("d").is_none());
    }

    #[test]
    fn an_old_iat_is_refused_under_either_policy() {
        for policy in [SubjectPolicy::Compatible, SubjectPolicy::Strict] {
            let old = claims(json!({"sub": "carol@tshirts.example", "exp": NOW + 60, "iat": NOW - 400, "jti": "j"}));
            assert!(check_subject_claims(&old, policy, NOW).unwrap_err().contains("issued too long ago"), "{policy:?}");
            let recent = claims(json!({"sub": "carol@tshirts.example", "exp": NOW + 60, "iat": NOW - 200, "jti": "j"}));
            assert!(check_subject_claims(&recent, policy, NOW).is_ok(), "{policy:?}");
        }
    }

    #[test]
    fn every_self_signed_token_is_single_use() {
        let bare = SubjectClaims { sub: "carol@tshirts.example".into(), tenant: None, jti: None, exp: None, iat: None };
        let guard = replay_guard("a.b.c", &bare);
        assert!(guard.key.starts_with("sha256:") && guard.key.len() == 7 + 64, "{}", guard.key);
        assert_eq!(guard.until, None, "no exp, no iat: remembered for ever");
        assert_ne!(replay_guard("a.b.d", &bare).key, guard.key, "another token, another key");
        let with_iat = SubjectClaims { iat: Some(NOW), ..bare.clone() };
        assert_eq!(replay_guard("t", &with_iat).until, Some(NOW + STRICT_MAX_LIFETIME_SECONDS + SUBJECT_LEEWAY_SECONDS));
        let full = SubjectClaims { jti: Some("abc".into()), exp: Some(NOW + 120), ..with_iat };
        assert_eq!(replay_guard("t", &full), ReplayGuard { key: "abc".into(), until: Some(NOW + 120 + SUBJECT_LEEWAY_SECONDS) });
    }
}
