//! The CARP version 2 advertisement (36 bytes after the IPv4 header), as ucarp 1.5.2 sends it.
//!
//! ```text
//!  0      version (4 bits, 2) | type (4 bits, 1 = ADVERTISEMENT)
//!  1      vhid, 1..=255
//!  2      advskew (1/256 s)
//!  3      authlen: 7 (32-bit words of counter + digest)
//!  4      demote (ucarp: always 0, never read)
//!  5      advbase (seconds)
//!  6..8   checksum: RFC 1071 over the 36 bytes, no pseudo-header
//!  8..16  counter, 64 bits, big-endian
//! 16..36  HMAC-SHA1 digest
//! ```
//!
//! The digest ([`digest`]) is standard HMAC-SHA1 (RFC 2104) keyed by the password bytes over the
//! 15 bytes `02 01 vhid VIP(4) counter(8)`: it covers neither advbase, advskew, demote nor the
//! source address, so a captured advert can be rewritten to win or lose the election without
//! breaking it. ucarp accepts any counter (no replay protection); see
//! [`crate::proto::carp::election`] for what vrrpd checks on top.
//!
//! [`Header`] is a typed view with getters and setters in the style of smoltcp; [`Advert`] the owned
//! form, [`parse`] validates structure and checksum, [`Auth::verify`] the digest.

use core::fmt;
use core::net::Ipv4Addr;

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use crate::proto::packet::internet_checksum;
use crate::proto::DiscardReason;

/// Length of the CARP header, the whole advertisement payload.
pub const HEADER_LEN: usize = 36;
/// CARP version.
pub const VERSION: u8 = 2;
/// Type ADVERTISEMENT.
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// First byte: version 2, type 1 (equal to VRRPv2's).
pub const VER_TYPE: u8 = (VERSION << 4) | TYPE_ADVERTISEMENT;
/// authlen: counter (2 words) + SHA1 digest (5 words).
pub const AUTHLEN: u8 = 7;
/// Length of the HMAC-SHA1 digest.
pub const DIGEST_LEN: usize = 20;
/// Longest password ucarp takes (it keeps password + NUL in a 20-byte buffer).
pub const MAX_PASSWORD_LEN: usize = 19;
/// advbase and advskew of the "bow-out" advert: a backup that hears it takes over at once.
pub const BOW_OUT: u8 = 255;

/// Byte offsets of the header fields.
pub mod field {
    use core::ops::Range;

    /// Version (high nibble) and type (low nibble).
    pub const VER_TYPE: usize = 0;
    /// Virtual host id.
    pub const VHID: usize = 1;
    /// Advertisement skew, 1/256 s.
    pub const ADVSKEW: usize = 2;
    /// Length of counter and digest in 32-bit words.
    pub const AUTHLEN: usize = 3;
    /// Demotion counter (ucarp: pad, 0).
    pub const DEMOTE: usize = 4;
    /// Advertisement base interval, seconds.
    pub const ADVBASE: usize = 5;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 6..8;
    /// 64-bit counter.
    pub const COUNTER: Range<usize> = 8..16;
    /// HMAC-SHA1 digest.
    pub const MD: Range<usize> = 16..36;
}

/// Why a payload is not a valid CARP advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Not exactly 36 bytes.
    Length(usize),
    /// Version nibble is not 2.
    Version(u8),
    /// Type nibble is not 1 (ucarp does not check; nobody sends other types).
    Type(u8),
    /// authlen is not 7.
    AuthLen(u8),
    /// The RFC 1071 checksum over the 36 bytes does not verify.
    Checksum,
    /// The HMAC-SHA1 digest does not match (wrong password, vhid or virtual address).
    Digest,
    /// A buffer given to [`Advert::emit`] is shorter than 36 bytes.
    Buffer(usize),
}

impl Error {
    /// The discard counter this error is counted under.
    pub fn reason(self) -> DiscardReason {
        match self {
            Error::Length(_) | Error::AuthLen(_) | Error::Buffer(_) => DiscardReason::BadLength,
            Error::Version(_) => DiscardReason::BadVersion,
            Error::Type(_) => DiscardReason::BadType,
            Error::Checksum => DiscardReason::BadChecksum,
            Error::Digest => DiscardReason::BadAuth,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Length(n) => write!(f, "CARP advert of {n} bytes, expected {HEADER_LEN}"),
            Error::Version(v) => write!(f, "CARP version {v}, expected {VERSION}"),
            Error::Type(t) => write!(f, "CARP type {t}, expected {TYPE_ADVERTISEMENT}"),
            Error::AuthLen(n) => write!(f, "CARP authlen {n}, expected {AUTHLEN}"),
            Error::Checksum => f.write_str("bad CARP checksum"),
            Error::Digest => {
                f.write_str("bad CARP digest (check vhid, password and virtual address)")
            }
            Error::Buffer(n) => write!(f, "buffer of {n} bytes, {HEADER_LEN} needed"),
        }
    }
}

impl std::error::Error for Error {}

/// A typed view over a CARP header. Getters read missing bytes as zero and setters ignore bytes
/// beyond the buffer, so a short buffer never panics; [`Header::new_checked`] refuses one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wrap without checking the length.
    pub fn new_unchecked(buffer: T) -> Header<T> {
        Header { buffer }
    }

    /// Wrap a buffer of exactly [`HEADER_LEN`] bytes.
    pub fn new_checked(buffer: T) -> Result<Header<T>, Error> {
        let len = buffer.as_ref().len();
        if len != HEADER_LEN {
            return Err(Error::Length(len));
        }
        Ok(Header { buffer })
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, i: usize) -> u8 {
        self.buffer.as_ref().get(i).copied().unwrap_or(0)
    }

    fn array<const N: usize>(&self, start: usize) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, b) in out.iter_mut().enumerate() {
            *b = self.byte(start + i);
        }
        out
    }

    /// Version nibble (2).
    pub fn version(&self) -> u8 {
        self.byte(field::VER_TYPE) >> 4
    }
    /// Type nibble (1).
    pub fn kind(&self) -> u8 {
        self.byte(field::VER_TYPE) & 0x0f
    }
    /// Virtual host id.
    pub fn vhid(&self) -> u8 {
        self.byte(field::VHID)
    }
    /// Advertisement skew, 1/256 s.
    pub fn advskew(&self) -> u8 {
        self.byte(field::ADVSKEW)
    }
    /// authlen (7).
    pub fn authlen(&self) -> u8 {
        self.byte(field::AUTHLEN)
    }
    /// Demotion counter (ucarp sends 0).
    pub fn demote(&self) -> u8 {
        self.byte(field::DEMOTE)
    }
    /// Advertisement base, seconds.
    pub fn advbase(&self) -> u8 {
        self.byte(field::ADVBASE)
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes(self.array(field::CHECKSUM.start))
    }
    /// The 8 counter bytes as on the wire.
    pub fn counter_bytes(&self) -> [u8; 8] {
        self.array(field::COUNTER.start)
    }
    /// Counter as a number (big-endian).
    pub fn counter(&self) -> u64 {
        u64::from_be_bytes(self.counter_bytes())
    }
    /// The HMAC-SHA1 digest field.
    pub fn md(&self) -> [u8; DIGEST_LEN] {
        self.array(field::MD.start)
    }
    /// Whether the RFC 1071 checksum over the 36 bytes verifies (a short buffer never does).
    pub fn verify_checksum(&self) -> bool {
        let b = self.buffer.as_ref();
        b.len() == HEADER_LEN && internet_checksum(&[b]) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    fn set_byte(&mut self, i: usize, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(i) {
            *b = v;
        }
    }

    fn set_bytes(&mut self, start: usize, v: &[u8]) {
        for (i, &x) in v.iter().enumerate() {
            self.set_byte(start + i, x);
        }
    }

    /// Set version and type nibbles.
    pub fn set_ver_type(&mut self, version: u8, kind: u8) {
        self.set_byte(field::VER_TYPE, (version << 4) | (kind & 0x0f));
    }
    /// Set the vhid.
    pub fn set_vhid(&mut self, v: u8) {
        self.set_byte(field::VHID, v);
    }
    /// Set advskew.
    pub fn set_advskew(&mut self, v: u8) {
        self.set_byte(field::ADVSKEW, v);
    }
    /// Set authlen.
    pub fn set_authlen(&mut self, v: u8) {
        self.set_byte(field::AUTHLEN, v);
    }
    /// Set demote.
    pub fn set_demote(&mut self, v: u8) {
        self.set_byte(field::DEMOTE, v);
    }
    /// Set advbase.
    pub fn set_advbase(&mut self, v: u8) {
        self.set_byte(field::ADVBASE, v);
    }
    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        self.set_bytes(field::CHECKSUM.start, &v.to_be_bytes());
    }
    /// Set the counter (big-endian).
    pub fn set_counter(&mut self, v: u64) {
        self.set_bytes(field::COUNTER.start, &v.to_be_bytes());
    }
    /// Set the digest field.
    pub fn set_md(&mut self, md: &[u8; DIGEST_LEN]) {
        self.set_bytes(field::MD.start, md);
    }
    /// Compute and store the checksum (over the 36 bytes with the field zeroed).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = internet_checksum(&[self.buffer.as_ref()]);
        self.set_checksum(sum);
    }
}

/// The CARP secret and the virtual address it is bound to: the digest covers both.
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    key: Vec<u8>,
    vip: Ipv4Addr,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("key", &"<redacted>")
            .field("vip", &self.vip)
            .finish()
    }
}

/// Why a password is refused (ucarp's limits: 1..=19 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordError {
    /// Empty.
    Empty,
    /// Longer than [`MAX_PASSWORD_LEN`] bytes.
    TooLong(usize),
}

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordError::Empty => f.write_str("the CARP password is empty"),
            PasswordError::TooLong(n) => write!(
                f,
                "the CARP password is {n} bytes, ucarp takes at most {MAX_PASSWORD_LEN}"
            ),
        }
    }
}

impl std::error::Error for PasswordError {}

type HmacSha1 = Hmac<Sha1>;

impl Auth {
    /// The password bytes, unchanged (ucarp's `--pass`, or the first line of `--passfile`), and
    /// the single virtual IPv4 address.
    pub fn new(password: &[u8], vip: Ipv4Addr) -> Result<Auth, PasswordError> {
        if password.is_empty() {
            return Err(PasswordError::Empty);
        }
        if password.len() > MAX_PASSWORD_LEN {
            return Err(PasswordError::TooLong(password.len()));
        }
        Ok(Auth {
            key: password.to_vec(),
            vip,
        })
    }

    /// The virtual address.
    pub fn vip(&self) -> Ipv4Addr {
        self.vip
    }

    /// The HMAC-SHA1 digest of an advert for `vhid` carrying `counter` (wire bytes).
    pub fn digest(&self, vhid: u8, counter: [u8; 8]) -> [u8; DIGEST_LEN] {
        digest(&self.key, vhid, self.vip, counter)
    }

    /// Whether `md` is the digest of (vhid, counter), compared in constant time.
    pub fn verify(&self, vhid: u8, counter: [u8; 8], md: &[u8; DIGEST_LEN]) -> bool {
        let Ok(mut mac) = HmacSha1::new_from_slice(&self.key) else {
            return false;
        };
        mac.update(&message(vhid, self.vip, counter));
        mac.verify_slice(md).is_ok()
    }
}

/// The 15 bytes ucarp hashes: version 2, type 1, vhid, the VIP (network order), the counter.
pub fn message(vhid: u8, vip: Ipv4Addr, counter: [u8; 8]) -> [u8; 15] {
    let mut m = [0u8; 15];
    m[0] = VERSION;
    m[1] = TYPE_ADVERTISEMENT;
    m[2] = vhid;
    m[3..7].copy_from_slice(&vip.octets());
    m[7..15].copy_from_slice(&counter);
    m
}

/// HMAC-SHA1 (RFC 2104) keyed by `key` over [`message`]. Any key length is valid for HMAC.
pub fn digest(key: &[u8], vhid: u8, vip: Ipv4Addr, counter: [u8; 8]) -> [u8; DIGEST_LEN] {
    let mut out = [0u8; DIGEST_LEN];
    if let Ok(mut mac) = HmacSha1::new_from_slice(key) {
        mac.update(&message(vhid, vip, counter));
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

/// An advertisement, owned. `md` is what was received ([`parse`]) or is computed by
/// [`Advert::emit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert {
    /// Virtual host id.
    pub vhid: u8,
    /// Skew, 1/256 s.
    pub advskew: u8,
    /// Base interval, seconds.
    pub advbase: u8,
    /// Demotion (sent 0, as ucarp).
    pub demote: u8,
    /// Counter.
    pub counter: u64,
    /// Digest as received (ignored by [`Advert::emit`], which computes it).
    pub md: [u8; DIGEST_LEN],
}

impl Advert {
    /// An advert with demote 0 and an empty digest.
    pub fn new(vhid: u8, advbase: u8, advskew: u8, counter: u64) -> Advert {
        Advert {
            vhid,
            advskew,
            advbase,
            demote: 0,
            counter,
            md: [0; DIGEST_LEN],
        }
    }

    /// Whether this is the bow-out advert (advbase 255, advskew 255).
    pub fn is_bow_out(&self) -> bool {
        self.advbase == BOW_OUT && self.advskew == BOW_OUT
    }

    /// Write the 36 bytes into `buf` (which must hold them), digest and checksum computed.
    pub fn emit(&self, auth: &Auth, buf: &mut [u8]) -> Result<(), Error> {
        let len = buf.len();
        let Some(b) = buf.get_mut(..HEADER_LEN) else {
            return Err(Error::Buffer(len));
        };
        let mut h = Header::new_unchecked(b);
        h.set_ver_type(VERSION, TYPE_ADVERTISEMENT);
        h.set_vhid(self.vhid);
        h.set_advskew(self.advskew);
        h.set_authlen(AUTHLEN);
        h.set_demote(self.demote);
        h.set_advbase(self.advbase);
        h.set_counter(self.counter);
        h.set_md(&auth.digest(self.vhid, self.counter.to_be_bytes()));
        h.fill_checksum();
        Ok(())
    }

    /// The 36 bytes.
    pub fn to_bytes(&self, auth: &Auth) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        // Cannot fail: the buffer has the length.
        let _ = self.emit(auth, &mut b);
        b
    }

    /// Whether the digest carried verifies with `auth`.
    pub fn verify(&self, auth: &Auth) -> bool {
        auth.verify(self.vhid, self.counter.to_be_bytes(), &self.md)
    }
}

/// Structural checks (length, version, type, authlen, checksum), in that order; the digest is
/// checked by the caller once the vhid is known to be ours ([`Advert::verify`]).
pub fn parse(payload: &[u8]) -> Result<Advert, Error> {
    let h = Header::new_checked(payload)?;
    if h.version() != VERSION {
        return Err(Error::Version(h.version()));
    }
    if h.kind() != TYPE_ADVERTISEMENT {
        return Err(Error::Type(h.kind()));
    }
    if h.authlen() != AUTHLEN {
        return Err(Error::AuthLen(h.authlen()));
    }
    if !h.verify_checksum() {
        return Err(Error::Checksum);
    }
    Ok(Advert {
        vhid: h.vhid(),
        advskew: h.advskew(),
        advbase: h.advbase(),
        demote: h.demote(),
        counter: h.counter(),
        md: h.md(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);

    /// A ucarp 1.5.2 advert (vhid 7, advskew 0, advbase 1, password "secret", VIP 192.0.2.254), the
    /// first from A in `tests/data/ucarp-1.5.2.json`.
    fn ucarp_advert() -> Vec<u8> {
        hex("21 07 00 07 00 01 0c8f 1da3087c2eae4642 12729c1b94747ce73c7d70d5dd3fe8bfe18e2287")
    }

    #[test]
    fn hmac_inner_and_outer_as_rfc2104() {
        // RFC 2104 built by hand from the sha1 crate, against the hmac crate.
        use sha1::Digest;
        let key = b"secret";
        let counter = [0x1d, 0xa3, 0x08, 0x7c, 0x2e, 0xae, 0x46, 0x42];
        let msg = message(7, VIP, counter);
        assert_eq!(msg.to_vec(), hex("02 01 07 c00002fe 1da3087c2eae4642"));
        let mut k = [0u8; 64];
        k[..key.len()].copy_from_slice(key);
        let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
        let inner = Sha1::new().chain_update(&ipad).chain_update(msg).finalize();
        assert_eq!(
            inner.to_vec(),
            hex("c4076d34be9c480a74bbdf339b10abab53c3d423")
        );
        let outer = Sha1::new()
            .chain_update(&opad)
            .chain_update(inner)
            .finalize();
        assert_eq!(outer.to_vec(), digest(key, 7, VIP, counter).to_vec());
    }

    #[test]
    fn parse_and_reencode_ucarp_advert() {
        let bytes = ucarp_advert();
        let adv = parse(&bytes).expect("valid");
        assert_eq!(
            (adv.vhid, adv.advskew, adv.advbase, adv.demote),
            (7, 0, 1, 0)
        );
        assert_eq!(adv.counter, 0x1da3_087c_2eae_4642);
        let auth = Auth::new(b"secret", VIP).expect("password");
        assert!(adv.verify(&auth));
        assert_eq!(adv.to_bytes(&auth).to_vec(), bytes);
        let h = Header::new_checked(&bytes[..]).expect("len");
        assert_eq!(h.checksum(), 0x0c8f);
        assert!(h.verify_checksum());
        let wrong = Auth::new(b"secreT", VIP).expect("password");
        assert!(!adv.verify(&wrong));
        let other_vip = Auth::new(b"secret", Ipv4Addr::new(192, 0, 2, 253)).expect("password");
        assert!(!adv.verify(&other_vip));
    }

    #[test]
    fn structural_errors_in_order() {
        let good = ucarp_advert();
        assert_eq!(parse(&good[..35]), Err(Error::Length(35)));
        let mut long = good.clone();
        long.push(0);
        assert_eq!(parse(&long), Err(Error::Length(37)));
        let mut v3 = good.clone();
        v3[0] = 0x31;
        assert_eq!(parse(&v3), Err(Error::Version(3)));
        let mut t2 = good.clone();
        t2[0] = 0x22;
        assert_eq!(parse(&t2), Err(Error::Type(2)));
        let mut a6 = good.clone();
        a6[3] = 6;
        assert_eq!(parse(&a6), Err(Error::AuthLen(6)));
        let mut bad = good.clone();
        bad[20] ^= 1;
        assert_eq!(parse(&bad), Err(Error::Checksum));
        assert_eq!(Error::Checksum.reason(), DiscardReason::BadChecksum);
        assert_eq!(Error::Digest.reason(), DiscardReason::BadAuth);
    }

    #[test]
    fn setters_round_trip_and_short_buffers_do_not_panic() {
        let mut b = [0u8; HEADER_LEN];
        let mut h = Header::new_unchecked(&mut b[..]);
        h.set_ver_type(2, 1);
        h.set_vhid(9);
        h.set_advskew(50);
        h.set_authlen(7);
        h.set_demote(3);
        h.set_advbase(2);
        h.set_counter(0x0102_0304_0506_0708);
        h.set_md(&[0xaa; DIGEST_LEN]);
        h.fill_checksum();
        assert!(h.verify_checksum());
        let h = Header::new_unchecked(&b[..]);
        assert_eq!(
            (
                h.version(),
                h.kind(),
                h.vhid(),
                h.advskew(),
                h.authlen(),
                h.demote(),
                h.advbase()
            ),
            (2, 1, 9, 50, 7, 3, 2)
        );
        assert_eq!(h.counter(), 0x0102_0304_0506_0708);
        assert_eq!(h.md(), [0xaa; DIGEST_LEN]);
        let mut short = [0u8; 3];
        let mut s = Header::new_unchecked(&mut short[..]);
        s.set_counter(1);
        s.fill_checksum();
        assert_eq!(Header::new_unchecked(&short[..]).counter(), 0);
        assert!(!Header::new_unchecked(&short[..]).verify_checksum());
        let auth = Auth::new(b"x", VIP).expect("password");
        assert_eq!(
            Advert::new(1, 1, 0, 0).emit(&auth, &mut [0u8; 10]),
            Err(Error::Buffer(10))
        );
    }

    #[test]
    fn password_limits() {
        assert_eq!(Auth::new(b"", VIP), Err(PasswordError::Empty));
        assert!(Auth::new(&[b'a'; 19], VIP).is_ok());
        assert_eq!(Auth::new(&[b'a'; 20], VIP), Err(PasswordError::TooLong(20)));
        let dbg = format!("{:?}", Auth::new(b"secret", VIP).expect("password"));
        assert!(!dbg.contains("secret"), "{dbg}");
    }

    #[test]
    fn bow_out() {
        assert!(Advert::new(1, BOW_OUT, BOW_OUT, 0).is_bow_out());
        assert!(!Advert::new(1, BOW_OUT, 0, 0).is_bow_out());
    }
}
