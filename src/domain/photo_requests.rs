//! A patient's photos through a one-time link (issue 16): how long a link works, how many
//! photos it takes, and how many wrong dates of birth pause it.

/// Random bytes in a link's token: 256 bits, written as 43 base64url characters. Only its
/// SHA-256 is stored.
pub const TOKEN_BYTES: usize = 32;
/// How long a link works unless revoked or used.
pub const LINK_TTL_MS: i64 = 72 * 60 * 60 * 1000;
/// Photos one request can bring to the case.
pub const MAX_PHOTOS: i64 = 6;
/// Uploads one request accepts, retakes included (bounds what a leaked link can store).
pub const MAX_UPLOADS: i64 = 24;
/// Wrong dates of birth before the link pauses.
pub const DOB_ATTEMPTS: i64 = 5;
/// How long it pauses.
pub const DOB_PAUSE_MS: i64 = 15 * 60 * 1000;

/// What a link can do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Open,
    Expired,
    Revoked,
    /// The patient has sent their photos: the link is used up.
    Sent,
}

pub fn link_state(
    expires_at_ms: i64,
    revoked_at_ms: Option<i64>,
    sent_at_ms: Option<i64>,
    now_ms: i64,
) -> LinkState {
    if sent_at_ms.is_some() {
        LinkState::Sent
    } else if revoked_at_ms.is_some() {
        LinkState::Revoked
    } else if now_ms >= expires_at_ms {
        LinkState::Expired
    } else {
        LinkState::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_open_until_it_expires_is_revoked_or_is_used() {
        assert_eq!(link_state(100, None, None, 99), LinkState::Open);
        assert_eq!(link_state(100, None, None, 100), LinkState::Expired);
        assert_eq!(link_state(100, Some(50), None, 60), LinkState::Revoked);
        assert_eq!(link_state(100, Some(50), Some(40), 60), LinkState::Sent);
    }

    #[test]
    fn the_token_has_256_bits() {
        assert_eq!(TOKEN_BYTES * 8, 256);
    }
}
