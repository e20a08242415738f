//! Who may connect, and to which vhosts.
//!
//! Users, their salted password hashes, vhosts and per-vhost permissions come
//! from a RabbitMQ definitions file (the JSON that `rabbitmqctl
//! export_definitions` writes), so an existing broker's users carry over:
//!
//! ```json
//! {"users": [{"name": "app", "password_hash": "...",
//!             "hashing_algorithm": "rabbit_password_hashing_sha256"}],
//!  "vhosts": [{"name": "/"}, {"name": "staging"}],
//!  "permissions": [{"user": "app", "vhost": "staging",
//!                   "configure": ".*", "write": ".*", "read": ".*"}]}
//! ```
//!
//! A password hash is RabbitMQ's: base64 of a 4-byte salt followed by
//! SHA-256 (or SHA-512) of the salt and the password. A user may open a
//! vhost it has a permission entry for. The entry's configure, write and
//! read regular expressions then say which exchanges and queues it may
//! configure (declare, delete), write (publish to, bind a queue to) and read
//! (consume, get, purge, bind from), matched unanchored as RabbitMQ matches
//! them; the core applies them (`brokerlab_core::Access`). User `guest`, if
//! present, may log in only from loopback, as RabbitMQ's default
//! `loopback_users` says. Without a file the only user is
//! `guest`/`guest` with full access to vhost `/`, tagged `administrator`.
//!
//! A user's `tags` (a comma-separated string, or a list as RabbitMQ 3.9 and
//! later export them) say what it may do in the management API
//! ([`Tag`]); a user without a management tag may not use it.

use base64::Engine;
use brokerlab_core::{Access, Permissions};
use serde::Deserialize;
use sha2::{Digest, Sha256, Sha512};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

/// The user who may log in only from a loopback address.
const LOOPBACK_USER: &str = "guest";

/// Bytes of salt in front of a RabbitMQ password hash.
const SALT_BYTES: usize = 4;

/// A hash function RabbitMQ salts passwords with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hashing {
    Sha256,
    Sha512,
}

impl Hashing {
    fn from_name(name: &str) -> Option<Hashing> {
        match name {
            "rabbit_password_hashing_sha256" => Some(Hashing::Sha256),
            "rabbit_password_hashing_sha512" => Some(Hashing::Sha512),
            _ => None,
        }
    }

    fn digest(self, salt: &[u8], password: &str) -> Vec<u8> {
        match self {
            Hashing::Sha256 => Sha256::new()
                .chain_update(salt)
                .chain_update(password.as_bytes())
                .finalize()
                .to_vec(),
            Hashing::Sha512 => Sha512::new()
                .chain_update(salt)
                .chain_update(password.as_bytes())
                .finalize()
                .to_vec(),
        }
    }
}

/// One user's salted password hash and tags.
#[derive(Clone, Debug, PartialEq, Eq)]
struct User {
    hashing: Hashing,
    salt: Vec<u8>,
    digest: Vec<u8>,
    tags: Vec<String>,
}

impl User {
    fn with_password(hashing: Hashing, salt: &[u8], password: &str) -> User {
        User {
            hashing,
            salt: salt.to_vec(),
            digest: hashing.digest(salt, password),
            tags: Vec::new(),
        }
    }

    /// Compares every byte whatever the first difference, so the time taken
    /// says nothing about how much of a guess was right.
    fn password_matches(&self, password: &str) -> bool {
        let digest = self.hashing.digest(&self.salt, password);
        digest.len() == self.digest.len()
            && digest
                .iter()
                .zip(&self.digest)
                .fold(0u8, |differs, (a, b)| differs | (a ^ b))
                == 0
    }
}

/// Why a login or a vhost was refused (the caller words the reply as RabbitMQ does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    /// Unknown user or wrong password.
    BadCredentials,
    /// A loopback-only user from another address.
    NotFromLoopback,
    /// The user has no permissions on the vhost.
    NoAccess,
}

/// What a user's tag lets it do in the management API, as in RabbitMQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tag {
    /// No management tag: the API refuses it (401).
    None,
    /// `management` (or `policymaker`): the objects of the vhosts it has
    /// permissions on.
    Management,
    /// `monitoring`: every vhost's objects, read only.
    Monitoring,
    /// `administrator`: everything, users and definitions too.
    Administrator,
}

/// A user as a definitions file lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserEntry {
    /// Its name.
    pub name: String,
    /// Base64 of its salt and digest.
    pub password_hash: String,
    /// RabbitMQ's name of the hash function.
    pub hashing_algorithm: &'static str,
    /// Its tags.
    pub tags: Vec<String>,
}

/// A permission entry as a definitions file lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionEntry {
    /// The user.
    pub user: String,
    /// The vhost.
    pub vhost: String,
    /// Which resources it may configure.
    pub configure: String,
    /// Which it may write to.
    pub write: String,
    /// Which it may read from.
    pub read: String,
}

/// Users, vhosts and who may open which.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Users {
    users: BTreeMap<String, User>,
    vhosts: BTreeSet<String>,
    /// Permissions per user and vhost with a permission entry: the core
    /// applies them (`brokerlab_core::Access`).
    access: Access,
    /// The same permissions as the file wrote them, for an export.
    permissions: Vec<PermissionEntry>,
}

impl Default for Users {
    /// `guest`/`guest` with full access to vhost `/`, from loopback only,
    /// tagged `administrator`.
    fn default() -> Users {
        let mut guest = User::with_password(Hashing::Sha256, b"salt", "guest");
        guest.tags = vec!["administrator".to_owned()];
        let everything = ".*".to_owned();
        Users {
            users: BTreeMap::from([(LOOPBACK_USER.to_owned(), guest)]),
            vhosts: BTreeSet::from(["/".to_owned()]),
            access: {
                let mut access = Access::default();
                access.grant(LOOPBACK_USER, "/", Permissions::all());
                access
            },
            permissions: vec![PermissionEntry {
                user: LOOPBACK_USER.to_owned(),
                vhost: "/".to_owned(),
                configure: everything.clone(),
                write: everything.clone(),
                read: everything,
            }],
        }
    }
}

/// Why a definitions file could not be used.
#[derive(Debug)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
struct Definitions {
    #[serde(default)]
    users: Vec<UserDefinition>,
    #[serde(default)]
    vhosts: Vec<VhostDefinition>,
    #[serde(default)]
    permissions: Vec<PermissionDefinition>,
}

#[derive(Deserialize)]
struct UserDefinition {
    name: String,
    password_hash: String,
    #[serde(default = "default_hashing")]
    hashing_algorithm: String,
    #[serde(default)]
    tags: Tags,
}

/// A user's tags: RabbitMQ wrote them as one comma-separated string up to
/// 3.8, and as a list since.
#[derive(Default, Deserialize)]
#[serde(untagged)]
enum Tags {
    #[default]
    None,
    Joined(String),
    Listed(Vec<String>),
}

impl Tags {
    fn into_list(self) -> Vec<String> {
        match self {
            Tags::None => Vec::new(),
            Tags::Joined(joined) => joined
                .split(',')
                .map(str::trim)
                .filter(|tag| !tag.is_empty())
                .map(str::to_owned)
                .collect(),
            Tags::Listed(tags) => tags,
        }
    }
}

fn default_hashing() -> String {
    "rabbit_password_hashing_sha256".to_owned()
}

#[derive(Deserialize)]
struct VhostDefinition {
    name: String,
}

#[derive(Deserialize)]
struct PermissionDefinition {
    user: String,
    vhost: String,
    configure: String,
    write: String,
    read: String,
}

impl Users {
    /// Reads a RabbitMQ definitions file.
    pub fn from_file(path: &Path) -> Result<Users, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| ConfigError(format!("{}: {error}", path.display())))?;
        Users::from_definitions(&text)
            .map_err(|ConfigError(text)| ConfigError(format!("{}: {text}", path.display())))
    }

    /// Parses RabbitMQ definitions JSON.
    pub fn from_definitions(json: &str) -> Result<Users, ConfigError> {
        let definitions: Definitions =
            serde_json::from_str(json).map_err(|error| ConfigError(error.to_string()))?;
        let mut users = BTreeMap::new();
        for mut user in definitions.users {
            let mut parsed = parse_hash(&user)?;
            parsed.tags = std::mem::take(&mut user.tags).into_list();
            if users.insert(user.name.clone(), parsed).is_some() {
                return Err(ConfigError(format!(
                    "user '{}' is defined twice",
                    user.name
                )));
            }
        }
        let vhosts: BTreeSet<String> = definitions.vhosts.into_iter().map(|v| v.name).collect();
        let mut access = Access::default();
        let mut permissions = Vec::new();
        for permission in definitions.permissions {
            let patterns = check_permission(&permission, &users, &vhosts)?;
            access.grant(&permission.user, &permission.vhost, patterns);
            let PermissionDefinition {
                user,
                vhost,
                configure,
                write,
                read,
            } = permission;
            permissions.push(PermissionEntry {
                user,
                vhost,
                configure,
                write,
                read,
            });
        }
        Ok(Users {
            users,
            vhosts,
            access,
            permissions,
        })
    }

    /// What `user`'s tags let it do in the management API: its highest tag.
    #[must_use]
    pub fn tag(&self, user: &str) -> Tag {
        let tags = self.users.get(user).map_or(&[][..], |user| &user.tags[..]);
        tags.iter()
            .map(|tag| match tag.as_str() {
                "administrator" => Tag::Administrator,
                "monitoring" => Tag::Monitoring,
                "management" | "policymaker" => Tag::Management,
                _ => Tag::None,
            })
            .max()
            .unwrap_or(Tag::None)
    }

    /// Whether `user` has a permission entry on `vhost`.
    #[must_use]
    pub fn has_permissions(&self, user: &str, vhost: &str) -> bool {
        self.access.permissions(user, vhost).is_some()
    }

    /// Every user, by name, as a definitions file lists them.
    #[must_use]
    pub fn user_entries(&self) -> Vec<UserEntry> {
        self.users
            .iter()
            .map(|(name, user)| UserEntry {
                name: name.clone(),
                password_hash: base64::engine::general_purpose::STANDARD
                    .encode([&user.salt[..], &user.digest[..]].concat()),
                hashing_algorithm: match user.hashing {
                    Hashing::Sha256 => "rabbit_password_hashing_sha256",
                    Hashing::Sha512 => "rabbit_password_hashing_sha512",
                },
                tags: user.tags.clone(),
            })
            .collect()
    }

    /// Every permission entry, as the definitions file wrote them.
    #[must_use]
    pub fn permission_entries(&self) -> &[PermissionEntry] {
        &self.permissions
    }

    /// Checks a login; `peer` matters for the loopback-only user.
    pub fn authenticate(&self, user: &str, password: &str, peer: SocketAddr) -> Result<(), Denied> {
        let known = self.users.get(user);
        if !known.is_some_and(|known| known.password_matches(password)) {
            return Err(Denied::BadCredentials);
        }
        if user == LOOPBACK_USER && !peer.ip().to_canonical().is_loopback() {
            return Err(Denied::NotFromLoopback);
        }
        Ok(())
    }

    /// The vhosts the file defines; they become the broker's.
    #[must_use]
    pub fn vhosts(&self) -> Vec<String> {
        self.vhosts.iter().cloned().collect()
    }

    /// Who may configure, write and read what on each vhost, for the
    /// core's configuration.
    #[must_use]
    pub fn access(&self) -> Access {
        self.access.clone()
    }

    /// Checks that `user` has permissions on `vhost`. A vhost that does not
    /// exist is not refused here: whether a vhost exists is the core's rule,
    /// and it answers 530 with RabbitMQ's "vhost ... not found".
    pub fn may_open(&self, user: &str, vhost: &str) -> Result<(), Denied> {
        let known = self.vhosts.contains(vhost);
        if known && self.access.permissions(user, vhost).is_none() {
            return Err(Denied::NoAccess);
        }
        Ok(())
    }
}

fn parse_hash(user: &UserDefinition) -> Result<User, ConfigError> {
    let hashing = Hashing::from_name(&user.hashing_algorithm).ok_or_else(|| {
        ConfigError(format!(
            "user '{}': unsupported hashing_algorithm '{}' (rabbit_password_hashing_sha256 or _sha512)",
            user.name, user.hashing_algorithm
        ))
    })?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(user.password_hash.as_bytes())
        .map_err(|error| ConfigError(format!("user '{}': password_hash: {error}", user.name)))?;
    let digest_bytes = hashing.digest(b"", "").len();
    if bytes.len() != SALT_BYTES + digest_bytes {
        return Err(ConfigError(format!(
            "user '{}': password_hash holds {} bytes, not a {SALT_BYTES}-byte salt and a {digest_bytes}-byte digest",
            user.name,
            bytes.len()
        )));
    }
    let (salt, digest) = bytes.split_at(SALT_BYTES);
    Ok(User {
        hashing,
        salt: salt.to_vec(),
        digest: digest.to_vec(),
        tags: Vec::new(),
    })
}

fn check_permission(
    permission: &PermissionDefinition,
    users: &BTreeMap<String, User>,
    vhosts: &BTreeSet<String>,
) -> Result<Permissions, ConfigError> {
    let PermissionDefinition {
        user,
        vhost,
        configure,
        write,
        read,
    } = permission;
    if !users.contains_key(user) {
        return Err(ConfigError(format!("permission for unknown user '{user}'")));
    }
    if !vhosts.contains(vhost) {
        return Err(ConfigError(format!(
            "permission on unknown vhost '{vhost}'"
        )));
    }
    Permissions::new(configure, write, read).map_err(|error| {
        ConfigError(format!(
            "user '{user}' on vhost '{vhost}': permission ({configure:?}, {write:?}, {read:?}): {error}"
        ))
    })
}

/// RabbitMQ's salted hash of `password`, base64: for writing definitions files and for tests.
#[must_use]
pub fn password_hash(salt: [u8; SALT_BYTES], password: &str) -> String {
    let mut bytes = salt.to_vec();
    bytes.extend(Hashing::Sha256.digest(&salt, password));
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerlab_core::Operation;

    fn local() -> SocketAddr {
        "127.0.0.1:9".parse().expect("an address")
    }

    fn remote() -> SocketAddr {
        "192.0.2.1:9".parse().expect("an address")
    }

    fn definitions(pattern: &str) -> String {
        format!(
            r#"{{"users": [
                  {{"name": "app", "password_hash": "{}", "hashing_algorithm": "rabbit_password_hashing_sha256"}},
                  {{"name": "guest", "password_hash": "{}"}}],
                "vhosts": [{{"name": "/"}}, {{"name": "staging"}}],
                "permissions": [
                  {{"user": "app", "vhost": "staging", "configure": "{pattern}", "write": ".*", "read": ".*"}},
                  {{"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}}]}}"#,
            password_hash([1, 2, 3, 4], "s3cret"),
            password_hash([9, 9, 9, 9], "guest"),
        )
    }

    #[test]
    fn a_rabbitmq_sha256_hash_verifies_its_password() {
        // The worked example of RabbitMQ's password docs (salt CA D5 08 9B,
        // password "test12"), hashed independently with Python's hashlib.
        let json = r#"{"users": [{"name": "t", "password_hash": "ytUIm2F9eV3qWWARNnCjyAl43Ykoi8RM6UsDGYNU4KCxHspv"}]}"#;
        let users = Users::from_definitions(json).expect("valid definitions");
        assert_eq!(users.authenticate("t", "test12", remote()), Ok(()));
        assert_eq!(
            users.authenticate("t", "test13", remote()),
            Err(Denied::BadCredentials)
        );
    }

    #[test]
    fn a_user_logs_in_with_its_password_and_no_other() {
        let users = Users::from_definitions(&definitions(".*")).expect("valid definitions");
        assert_eq!(users.authenticate("app", "s3cret", remote()), Ok(()));
        assert_eq!(
            users.authenticate("app", "guess", remote()),
            Err(Denied::BadCredentials)
        );
        assert_eq!(
            users.authenticate("nobody", "s3cret", remote()),
            Err(Denied::BadCredentials)
        );
    }

    #[test]
    fn guest_logs_in_only_from_loopback() {
        let users = Users::from_definitions(&definitions(".*")).expect("valid definitions");
        assert_eq!(users.authenticate("guest", "guest", local()), Ok(()));
        assert_eq!(
            users.authenticate("guest", "guest", remote()),
            Err(Denied::NotFromLoopback)
        );
    }

    #[test]
    fn a_user_opens_only_the_vhosts_it_has_permissions_on() {
        let users = Users::from_definitions(&definitions(".*")).expect("valid definitions");
        assert_eq!(users.may_open("app", "staging"), Ok(()));
        assert_eq!(users.may_open("app", "/"), Err(Denied::NoAccess));
        assert_eq!(users.vhosts(), ["/", "staging"]);
    }

    #[test]
    fn the_default_is_guest_on_slash_from_loopback() {
        let users = Users::default();
        assert_eq!(users.authenticate("guest", "guest", local()), Ok(()));
        assert_eq!(
            users.authenticate("guest", "guest", remote()),
            Err(Denied::NotFromLoopback)
        );
        assert_eq!(users.may_open("guest", "/"), Ok(()));
        assert_eq!(users.vhosts(), ["/"]);
    }

    #[test]
    fn permission_patterns_match_resource_names_unanchored_as_rabbitmq_does() {
        let users =
            Users::from_definitions(&definitions("^app\\\\..*")).expect("valid definitions");
        let access = users.access();
        let permissions = access
            .permissions("app", "staging")
            .expect("app has an entry on staging");
        let allows = |operation, name| permissions.allows(operation, name);
        assert!(allows(Operation::Configure, "app.jobs"));
        assert!(!allows(Operation::Configure, "billing"));
        assert!(!allows(Operation::Configure, "xapp.jobs"), "^ anchors");
        assert!(allows(Operation::Write, "billing"), "write is .*");
        assert!(
            access.permissions("app", "/").is_none(),
            "no entry for the vhost: the core allows nothing"
        );
    }

    #[test]
    fn a_permission_that_is_not_a_regular_expression_is_a_configuration_error() {
        let error = Users::from_definitions(&definitions("(")).expect_err("'(' does not parse");
        assert!(error.to_string().contains("permission (\"(\""), "{error}");
    }

    #[test]
    fn a_users_highest_tag_decides_its_management_access() {
        let json = format!(
            r#"{{"users": [
                  {{"name": "ops", "password_hash": "{hash}", "tags": "monitoring,management"}},
                  {{"name": "root", "password_hash": "{hash}", "tags": ["administrator"]}},
                  {{"name": "app", "password_hash": "{hash}"}}]}}"#,
            hash = password_hash([1, 2, 3, 4], "x"),
        );
        let users = Users::from_definitions(&json).expect("valid definitions");
        assert_eq!(users.tag("ops"), Tag::Monitoring);
        assert_eq!(users.tag("root"), Tag::Administrator);
        assert_eq!(users.tag("app"), Tag::None);
        assert_eq!(users.tag("nobody"), Tag::None);
        assert_eq!(Users::default().tag("guest"), Tag::Administrator);
    }

    #[test]
    fn malformed_hashes_and_unknown_references_are_configuration_errors() {
        let short_hash = r#"{"users": [{"name": "u", "password_hash": "AAAA"}]}"#;
        assert!(Users::from_definitions(short_hash).is_err());
        let unknown_vhost = r#"{"users": [], "vhosts": [],
            "permissions": [{"user": "u", "vhost": "v", "configure": ".*", "write": ".*", "read": ".*"}]}"#;
        assert!(Users::from_definitions(unknown_vhost).is_err());
    }
}
