//! VRRP advertisement wire format: VRRPv2 (RFC 3768 §5) and VRRPv3 (RFC 9568 §5), IPv4 and IPv6.
//!
//! In the style of smoltcp's wire modules there are two layers:
//!
//! - [`Packet`]: a typed, read-only, zero-copy view over the bytes that follow the IP header, with
//!   one accessor per header field. It never panics: fixed-header accessors read missing bytes as
//!   zero (only possible with [`Packet::new_unchecked`]), variable-position accessors return
//!   `Option`.
//! - [`Advert`]: the owned, decoded representation, produced by [`parse`] (which validates
//!   everything) and written back by [`Advert::emit`].
//!
//! Layout (RFC 3768 §5.1 for v2, RFC 9568 §5.1/§5.2 for v3), offsets from the first VRRP byte,
//! big-endian:
//!
//! ```text
//!  0      version (4 bits) | type (4 bits)
//!  1      VRID
//!  2      priority
//!  3      count of addresses (n)
//!  4      v2: auth type          v3: reserve (4 bits) | max advertise interval (12 bits, cs)
//!  5      v2: adver int (s)
//!  6..8   checksum
//!  8..    n addresses (4 bytes each; v3 over IPv6: 16 bytes each)
//!  tail   v2 only: 8 bytes of authentication data
//! ```
//!
//! Checksums (RFC 1071 one's complement; RFC 3768 §5.3.8, RFC 9568 §5.2.8) are computed over the length
//! derived from the address count, never over trailing padding:
//!
//! - v2 (RFC 3768 §5.3.8): the message only.
//! - v3 over IPv6 (RFC 9568 §5.2.8): RFC 8200 §8.1 pseudo-header, then the message.
//! - v3 over IPv4: either the 12-byte IPv4 pseudo-header then the message ([`ChecksumForm::Pseudo`],
//!   as keepalived, FRR and nvrrp send, RFC 5798 §5.2.8) or the message only
//!   ([`ChecksumForm::Plain`], RFC 9568 §5.2.8). [`parse`] accepts either and reports which.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{ChecksumForm, DiscardReason, Family, Version};

/// IP protocol number / IPv6 next header of VRRP (RFC 3768 §5.2.4, RFC 9568 §5.1.1.4).
pub const IP_PROTOCOL: u8 = 112;

/// Length of the fixed VRRP header, before the addresses (RFC 9568 §5.1).
pub const HEADER_LEN: usize = 8;

/// Length of the VRRPv2 Authentication Data trailer (RFC 3768 §5.3.10).
pub const AUTH_DATA_LEN: usize = 8;

/// The only VRRP packet type, ADVERTISEMENT (RFC 3768 §5.3.2, RFC 9568 §5.2.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;

/// Largest VRRPv3 Max Advertise Interval, in centiseconds: the field has 12 bits (RFC 9568 §5.2.7).
pub const MAX_V3_INTERVAL: u16 = 0x0fff;

/// VRRPv2 authentication type 0, no authentication (RFC 3768 §5.3.6).
pub const AUTH_TYPE_NONE: u8 = 0;
/// VRRPv2 authentication type 1, simple text password (RFC 2338 §5.3.6, reserved by RFC 3768).
pub const AUTH_TYPE_PASSWORD: u8 = 1;
/// VRRPv2 authentication type 2, IP Authentication Header (RFC 2338 §5.3.6, reserved by RFC 3768).
pub const AUTH_TYPE_AH: u8 = 2;

/// Byte offsets of the header fields (RFC 3768 §5.1, RFC 9568 §5.1).
pub mod field {
    use core::ops::Range;

    /// Version (high nibble) and type (low nibble).
    pub const VER_TYPE: usize = 0;
    /// Virtual Router Identifier.
    pub const VRID: usize = 1;
    /// Priority.
    pub const PRIORITY: usize = 2;
    /// Count of addresses.
    pub const COUNT: usize = 3;
    /// VRRPv2 Auth Type.
    pub const AUTH_TYPE: usize = 4;
    /// VRRPv2 Adver Int (seconds).
    pub const ADVER_INT: usize = 5;
    /// VRRPv3 reserve (4 bits) and Max Advertise Interval (12 bits).
    pub const MAX_ADVER_INT: Range<usize> = 4..6;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 6..8;
    /// First address.
    pub const ADDRS: usize = 8;
}

/// VRRPv2 authentication (RFC 3768 §5.3.6). VRRPv3 has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Type 0: no authentication; 8 zero bytes of Auth Data (v2).
    None,
    /// Type 1: simple text password, 8 bytes, zero padded.
    Password([u8; 8]),
}

impl Auth {
    /// The VRRPv2 Auth Type value (RFC 3768 §5.3.6): 0 or 1.
    pub fn type_number(&self) -> u8 {
        match self {
            Auth::None => AUTH_TYPE_NONE,
            Auth::Password(_) => AUTH_TYPE_PASSWORD,
        }
    }

    /// The 8 bytes of Authentication Data (RFC 3768 §5.3.10): zeros for `None`.
    pub fn data(&self) -> [u8; AUTH_DATA_LEN] {
        match self {
            Auth::None => [0; AUTH_DATA_LEN],
            Auth::Password(p) => *p,
        }
    }

    /// A type-1 password from text, zero padded to 8 bytes; `None` if it is longer than 8 bytes.
    pub fn password(text: &[u8]) -> Option<Auth> {
        let mut data = [0u8; AUTH_DATA_LEN];
        data.get_mut(..text.len())?.copy_from_slice(text);
        Some(Auth::Password(data))
    }
}

/// An advertisement, owned and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// Protocol version.
    pub version: Version,
    /// Virtual Router Identifier, 1-255.
    pub vrid: u8,
    /// Priority: 0 = stop, 1-254 backup, 255 owner.
    pub priority: u8,
    /// v3: Max Advertise Interval in centiseconds (12 bits, 1-4095). v2: Adver Int in seconds.
    pub interval: u16,
    /// Virtual addresses, all of one family (IPv4 for v2).
    pub addrs: Vec<IpAddr>,
    /// v2 authentication; always `Auth::None` for v3.
    pub auth: Auth,
}

/// A successfully parsed advertisement and which checksum form matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The decoded fields.
    pub advert: Advert,
    /// For VRRPv3 over IPv4, which checksum form verified; `None` for v2 and IPv6.
    pub checksum_form: Option<ChecksumForm>,
}

/// Every way an input can be malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Fewer bytes than the fixed header.
    TooShort,
    /// Version nibble neither 2 nor 3 (or 2 over IPv6).
    BadVersion(u8),
    /// Type nibble is not 1.
    BadType(u8),
    /// Address count is zero.
    BadAddrCount,
    /// Fewer bytes than the count implies.
    BadLength,
    /// Checksum did not verify.
    BadChecksum,
    /// VRRPv3 interval 0.
    BadInterval,
    /// VRRPv2 auth type other than 0, 1, 2.
    UnknownAuthType(u8),
    /// VRRPv2 auth type 2 (IP Authentication Header): recognised, not supported.
    AuthAhUnsupported,
    /// Address family of IP header and addresses disagree (or mixed families on emit).
    FamilyMismatch,
    /// Output buffer too small on emit.
    BufferTooSmall,
}

impl Error {
    /// The receive counter this error is counted under.
    pub fn reason(self) -> DiscardReason {
        match self {
            Error::TooShort | Error::BadLength | Error::BufferTooSmall => DiscardReason::BadLength,
            Error::BadVersion(_) => DiscardReason::BadVersion,
            Error::BadType(_) => DiscardReason::BadType,
            Error::BadAddrCount => DiscardReason::BadAddrCount,
            Error::BadChecksum => DiscardReason::BadChecksum,
            Error::BadInterval => DiscardReason::BadInterval,
            Error::UnknownAuthType(_) | Error::AuthAhUnsupported => DiscardReason::BadAuthType,
            Error::FamilyMismatch => DiscardReason::BadFamily,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooShort => write!(f, "shorter than the {HEADER_LEN}-byte VRRP header"),
            Error::BadVersion(v) => write!(f, "unsupported VRRP version {v}"),
            Error::BadType(t) => write!(f, "VRRP type {t} is not 1 (ADVERTISEMENT)"),
            Error::BadAddrCount => write!(f, "address count is 0"),
            Error::BadLength => write!(f, "shorter than the address count implies"),
            Error::BadChecksum => write!(f, "checksum does not verify"),
            Error::BadInterval => write!(f, "advertisement interval out of range"),
            Error::UnknownAuthType(t) => write!(f, "unknown VRRPv2 auth type {t}"),
            Error::AuthAhUnsupported => write!(f, "VRRPv2 auth type 2 (IP AH) is not supported"),
            Error::FamilyMismatch => write!(f, "address families disagree"),
            Error::BufferTooSmall => write!(f, "output buffer too small"),
        }
    }
}

impl std::error::Error for Error {}

// ---------------------------------------------------------------------------------------------
// RFC 1071 checksum
// ---------------------------------------------------------------------------------------------

/// An RFC 1071 Internet checksum accumulator (one's complement sum of 16-bit big-endian words).
///
/// Bytes may be fed in chunks of any length: an odd trailing byte is carried over to the next
/// chunk, so feeding `a` then `b` equals feeding `a ‖ b`. A final odd byte is padded with a zero
/// byte (RFC 1071 §4.1). Reusable for other protocols (e.g. ICMPv6, next header 58).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InternetChecksum {
    sum: u64,
    pending: Option<u8>,
}

impl InternetChecksum {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add bytes to the sum.
    pub fn add_bytes(&mut self, bytes: &[u8]) -> &mut Self {
        let mut rest = bytes;
        if let Some(hi) = self.pending.take() {
            match rest.split_first() {
                Some((lo, tail)) => {
                    self.sum += u64::from(u16::from_be_bytes([hi, *lo]));
                    rest = tail;
                }
                None => {
                    self.pending = Some(hi);
                    return self;
                }
            }
        }
        let words = rest.chunks_exact(2);
        self.pending = words.remainder().first().copied();
        for w in words {
            if let [a, b] = *w {
                self.sum += u64::from(u16::from_be_bytes([a, b]));
            }
        }
        // Keep the sum small whatever the chunk sizes.
        self.sum = u64::from(fold(self.sum));
        self
    }

    /// Add an RFC 791-style IPv4 pseudo-header: source, destination, zero, protocol, 16-bit length
    /// (as used by the VRRPv3-over-IPv4 pseudo checksum form, RFC 5798 §5.2.8).
    pub fn add_ipv4_pseudo_header(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        len: u16,
    ) -> &mut Self {
        let [l0, l1] = len.to_be_bytes();
        self.add_bytes(&src.octets())
            .add_bytes(&dst.octets())
            .add_bytes(&[0, protocol, l0, l1])
    }

    /// Add an RFC 8200 §8.1 IPv6 pseudo-header: source, destination, 32-bit upper-layer length,
    /// three zero bytes, next header.
    pub fn add_ipv6_pseudo_header(
        &mut self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: u8,
        len: u32,
    ) -> &mut Self {
        self.add_bytes(&src.octets())
            .add_bytes(&dst.octets())
            .add_bytes(&len.to_be_bytes())
            .add_bytes(&[0, 0, 0, next_header])
    }

    /// The folded one's complement sum (not yet complemented), with any odd byte zero padded.
    pub fn sum(&self) -> u16 {
        let mut sum = self.sum;
        if let Some(hi) = self.pending {
            sum += u64::from(u16::from_be_bytes([hi, 0]));
        }
        fold(sum)
    }

    /// The checksum to store in a header whose checksum field was summed as zero: `!sum()`.
    pub fn checksum(&self) -> u16 {
        !self.sum()
    }

    /// Whether data summed *including* its checksum field verifies (the sum is all ones,
    /// RFC 1071 §1 step 3).
    pub fn verifies(&self) -> bool {
        self.sum() == 0xffff
    }
}

/// Fold carries back into 16 bits (end-around carry).
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop leaves sum <= 0xffff.
    u16::try_from(sum).unwrap_or(0xffff)
}

/// RFC 1071 Internet checksum of the concatenation of `chunks` (the value to store in a checksum
/// field that was zero while summing). Odd-length chunks are handled as if concatenated.
pub fn internet_checksum(chunks: &[&[u8]]) -> u16 {
    let mut acc = InternetChecksum::new();
    for c in chunks {
        acc.add_bytes(c);
    }
    acc.checksum()
}

// ---------------------------------------------------------------------------------------------
// Packet view
// ---------------------------------------------------------------------------------------------

/// A read-only, zero-copy view of a VRRP packet (the bytes after the IP header).
///
/// Field accessors follow RFC 3768 §5.3 (v2) and RFC 9568 §5.2 (v3). They never panic: the fixed
/// header fields read missing bytes as zero (a buffer shorter than [`HEADER_LEN`] can only come
/// from [`Packet::new_unchecked`]), and accessors whose position depends on the address count
/// return `None` when the bytes are absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking its length.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer and [`check_len`](Self::check_len) it for addresses of `family`.
    pub fn new_checked(buffer: T, family: Family) -> Result<Packet<T>, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len(family)?;
        Ok(packet)
    }

    /// Check that the buffer holds the fixed header ([`Error::TooShort`] if not) and everything its
    /// address count implies ([`Error::BadLength`] if not; RFC 9568 §7.1, RFC 3768 §7.1). Extra
    /// trailing bytes are allowed. See [`required_len`](Self::required_len).
    pub fn check_len(&self, family: Family) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            Err(Error::TooShort)
        } else if len < self.required_len(family) {
            Err(Error::BadLength)
        } else {
            Ok(())
        }
    }

    /// Consume the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, i: usize) -> u8 {
        self.buffer.as_ref().get(i).copied().unwrap_or(0)
    }

    fn be16(&self, i: usize) -> u16 {
        u16::from_be_bytes([self.byte(i), self.byte(i + 1)])
    }

    /// Version nibble (RFC 3768 §5.3.1, RFC 9568 §5.2.1): 2 or 3 when valid.
    pub fn version(&self) -> u8 {
        self.byte(field::VER_TYPE) >> 4
    }

    /// Type nibble (RFC 3768 §5.3.2, RFC 9568 §5.2.2): 1 (ADVERTISEMENT) when valid.
    pub fn kind(&self) -> u8 {
        self.byte(field::VER_TYPE) & 0x0f
    }

    /// Virtual Router Identifier (RFC 3768 §5.3.3, RFC 9568 §5.2.3).
    pub fn vrid(&self) -> u8 {
        self.byte(field::VRID)
    }

    /// Priority (RFC 3768 §5.3.4, RFC 9568 §5.2.4).
    pub fn priority(&self) -> u8 {
        self.byte(field::PRIORITY)
    }

    /// Count of addresses (RFC 3768 §5.3.5, RFC 9568 §5.2.5).
    pub fn addr_count(&self) -> u8 {
        self.byte(field::COUNT)
    }

    /// VRRPv2 Auth Type (RFC 3768 §5.3.6). Meaningless for v3.
    pub fn auth_type(&self) -> u8 {
        self.byte(field::AUTH_TYPE)
    }

    /// VRRPv2 Advertisement Interval in seconds (RFC 3768 §5.3.7). Meaningless for v3.
    pub fn adver_int(&self) -> u8 {
        self.byte(field::ADVER_INT)
    }

    /// VRRPv3 reserve bits (RFC 9568 §5.2.6): sent as 0, ignored on receive.
    pub fn reserved(&self) -> u8 {
        self.byte(field::MAX_ADVER_INT.start) >> 4
    }

    /// VRRPv3 Max Advertise Interval in centiseconds (RFC 9568 §5.2.7): the low 12 bits of bytes
    /// 4-5; the reserve bits are ignored.
    pub fn max_adver_int(&self) -> u16 {
        self.be16(field::MAX_ADVER_INT.start) & MAX_V3_INTERVAL
    }

    /// The checksum field as stored (RFC 3768 §5.3.8, RFC 9568 §5.2.8).
    pub fn checksum(&self) -> u16 {
        self.be16(field::CHECKSUM.start)
    }

    /// Bytes per address: 4 for IPv4 and for any v2 packet, 16 for v3 over IPv6.
    fn addr_len(&self, family: Family) -> usize {
        match family {
            Family::V6 if self.version() != 2 => 16,
            _ => 4,
        }
    }

    /// The length the header implies (RFC 9568 §7.1, RFC 3768 §7.1): for version 2,
    /// `16 + 4n` (including the 8 bytes of Authentication Data); otherwise `8 + 4n` for IPv4 and
    /// `8 + 16n` for IPv6.
    pub fn required_len(&self, family: Family) -> usize {
        let n = usize::from(self.addr_count());
        let trailer = if self.version() == 2 {
            AUTH_DATA_LEN
        } else {
            0
        };
        HEADER_LEN + n * self.addr_len(family) + trailer
    }

    /// The message proper: the first [`required_len`](Self::required_len) bytes, without padding;
    /// `None` if the buffer is shorter.
    pub fn message(&self, family: Family) -> Option<&[u8]> {
        self.buffer.as_ref().get(..self.required_len(family))
    }

    /// IPv4 address number `i` (RFC 3768 §5.3.9, RFC 9568 §5.2.9); `None` if `i` is not below the
    /// count or the bytes are absent.
    pub fn addr_v4(&self, i: usize) -> Option<Ipv4Addr> {
        if i >= usize::from(self.addr_count()) {
            return None;
        }
        let start = field::ADDRS + 4 * i;
        let b: [u8; 4] = self
            .buffer
            .as_ref()
            .get(start..start + 4)?
            .try_into()
            .ok()?;
        Some(Ipv4Addr::from(b))
    }

    /// IPv6 address number `i` of a v3 packet (RFC 9568 §5.2.9); `None` if `i` is not below the
    /// count or the bytes are absent.
    pub fn addr_v6(&self, i: usize) -> Option<Ipv6Addr> {
        if i >= usize::from(self.addr_count()) {
            return None;
        }
        let start = field::ADDRS + 16 * i;
        let b: [u8; 16] = self
            .buffer
            .as_ref()
            .get(start..start + 16)?
            .try_into()
            .ok()?;
        Some(Ipv6Addr::from(b))
    }

    /// Address number `i` read as `family`.
    pub fn addr(&self, family: Family, i: usize) -> Option<IpAddr> {
        match family {
            Family::V4 => self.addr_v4(i).map(IpAddr::V4),
            Family::V6 => self.addr_v6(i).map(IpAddr::V6),
        }
    }

    /// All addresses read as `family`, in order; stops early if the buffer is short.
    pub fn addrs(&self, family: Family) -> impl Iterator<Item = IpAddr> + '_ {
        (0..usize::from(self.addr_count())).map_while(move |i| self.addr(family, i))
    }

    /// VRRPv2 Authentication Data, the 8 bytes after the addresses (RFC 3768 §5.3.10); `None` if
    /// this is not a version-2 packet or the bytes are absent. No copy.
    pub fn auth_data(&self) -> Option<&[u8; AUTH_DATA_LEN]> {
        if self.version() != 2 {
            return None;
        }
        let start = field::ADDRS + 4 * usize::from(self.addr_count());
        self.buffer
            .as_ref()
            .get(start..start + AUTH_DATA_LEN)?
            .try_into()
            .ok()
    }

    /// Verify the checksum against the IP `src`/`dst` (both of one family, else
    /// [`Error::FamilyMismatch`]) over the message length, never padding (RFC 9568 §5.2.8).
    ///
    /// Returns which form verified: `Ok(None)` for v2 (RFC 3768 §5.3.8, message only) and v3 over
    /// IPv6 (RFC 9568 §5.2.8, RFC 8200 §8.1 pseudo-header); for v3 over IPv4 `Ok(Some(Pseudo))`
    /// or `Ok(Some(Plain))`, preferring `Pseudo` when both verify (they do when the pseudo-header
    /// sums to negative zero).
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> Result<Option<ChecksumForm>, Error> {
        let family = family_of(src, dst)?;
        let msg = self.message(family).ok_or(Error::BadLength)?;
        let mut plain = InternetChecksum::new();
        plain.add_bytes(msg);
        match (self.version(), src, dst) {
            (2, _, _) => plain.verifies().then_some(None).ok_or(Error::BadChecksum),
            (_, IpAddr::V4(s), IpAddr::V4(d)) => {
                let len = u16::try_from(msg.len()).map_err(|_| Error::BadLength)?;
                let mut pseudo = InternetChecksum::new();
                pseudo
                    .add_ipv4_pseudo_header(s, d, IP_PROTOCOL, len)
                    .add_bytes(msg);
                if pseudo.verifies() {
                    Ok(Some(ChecksumForm::Pseudo))
                } else if plain.verifies() {
                    Ok(Some(ChecksumForm::Plain))
                } else {
                    Err(Error::BadChecksum)
                }
            }
            (_, IpAddr::V6(s), IpAddr::V6(d)) => {
                let len = u32::try_from(msg.len()).map_err(|_| Error::BadLength)?;
                let mut pseudo = InternetChecksum::new();
                pseudo
                    .add_ipv6_pseudo_header(s, d, IP_PROTOCOL, len)
                    .add_bytes(msg);
                pseudo.verifies().then_some(None).ok_or(Error::BadChecksum)
            }
            _ => Err(Error::FamilyMismatch),
        }
    }
}

/// The family shared by `src` and `dst`, or [`Error::FamilyMismatch`].
fn family_of(src: IpAddr, dst: IpAddr) -> Result<Family, Error> {
    let family = Family::of(src);
    if Family::of(dst) == family {
        Ok(family)
    } else {
        Err(Error::FamilyMismatch)
    }
}

/// Whether a router may send from `a` (RFC 9568 §5.1.1.1, §5.1.2.1: the address of the
/// sending interface). Refused: the unspecified address and the rest of 0.0.0.0/8 ("this
/// network", only a source while a host learns its address, RFC 1122 §3.2.1.3), multicast
/// (RFC 1112 §4, RFC 4291 §2.7), loopback (RFC 1122 §3.2.1.3, RFC 4291 §2.5.3), 240.0.0.0/4
/// (reserved, RFC 1112 §4, with the limited broadcast 255.255.255.255), IPv6 unspecified and
/// IPv4-mapped addresses (RFC 4291 §2.5.2, §2.5.5.2: never on the wire as a source).
pub fn is_router_source(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => {
            let first = v.octets()[0];
            !(first == 0 || first == 127 || first >= 224)
        }
        IpAddr::V6(v) => {
            !(v.is_unspecified()
                || v.is_loopback()
                || v.is_multicast()
                || v.to_ipv4_mapped().is_some())
        }
    }
}

/// The one link-local test: whether `a` is in fe80::/10 (RFC 4291 §2.5.6), as RFC 9568 §5.2.9 wants of the first IPv6
/// address of an advert (erratum 8300). [`parse`] and [`Advert::emit`] do not enforce it (see
/// [`parse`]); the state machine notes a violation under `bad_v6_first_addr`.
pub fn is_ipv6_link_local(a: &Ipv6Addr) -> bool {
    a.segments().first().is_some_and(|s| s & 0xffc0 == 0xfe80)
}

/// Parse the bytes after the IP header. `src`/`dst` are the IP source and destination (for the
/// VRRPv3 pseudo-header checksum).
///
/// The family is the one `src` and `dst` share ([`Error::FamilyMismatch`] otherwise). Checks, in
/// this order:
///
/// 1. at least the 8-byte fixed header ([`Error::TooShort`]);
/// 2. version 2 or 3, and 2 only over IPv4 (RFC 3768 §5.3.1, RFC 9568 §5.2.1;
///    [`Error::BadVersion`]);
/// 3. type 1, ADVERTISEMENT (RFC 3768 §5.3.2, RFC 9568 §5.2.2; [`Error::BadType`]);
/// 4. count ≥ 1 (RFC 9568 §5.2.5, erratum 8299; [`Error::BadAddrCount`]);
/// 5. length ≥ 16+4n (v2), 8+4n (v3 IPv4), 8+16n (v3 IPv6); extra bytes are allowed and ignored
///    (RFC 9568 §7.1, RFC 3768 §7.1; [`Error::BadLength`]);
/// 6. checksum over the computed length only, see [`Packet::verify_checksum`] (RFC 3768 §5.3.8,
///    RFC 9568 §5.2.8; [`Error::BadChecksum`]);
/// 7. v3: Max Advertise Interval ≠ 0, reserve bits ignored (RFC 9568 §5.2.7, erratum 8301;
///    [`Error::BadInterval`]); a v2 Adver Int of 0 is passed through (the receive check on the
///    interval, RFC 3768 §7.1, discards it);
/// 8. v2: auth type 0 or 1; 2 is [`Error::AuthAhUnsupported`], others
///    [`Error::UnknownAuthType`] (RFC 3768 §5.3.6); type-0 Authentication Data is ignored
///    (RFC 3768 §5.3.10).
///
/// Not checked here: RFC 9568 §5.2.9 / erratum 8300 (R9) say an IPv6 advert lists a link-local
/// address first and that receivers discard it otherwise. The deployed peers do not do that:
/// keepalived 2.2.7 and FRR 8.4 send only the configured VIPs, typically a single global address
/// (captured in tests/interop.rs), so discarding would make every IPv6 pair with them split
/// brain. The state machine counts such adverts under `bad_v6_first_addr` and processes them, as
/// it does a VRRPv3 address-list mismatch.
pub fn parse(bytes: &[u8], src: IpAddr, dst: IpAddr) -> Result<Parsed, Error> {
    let family = family_of(src, dst)?;
    let packet = Packet::new_unchecked(bytes);
    if bytes.len() < HEADER_LEN {
        return Err(Error::TooShort);
    }
    let version = match (packet.version(), family) {
        (2, Family::V4) => Version::V2,
        (3, _) => Version::V3,
        (v, _) => return Err(Error::BadVersion(v)),
    };
    if packet.kind() != TYPE_ADVERTISEMENT {
        return Err(Error::BadType(packet.kind()));
    }
    if packet.addr_count() == 0 {
        return Err(Error::BadAddrCount);
    }
    packet.check_len(family)?;
    let checksum_form = packet.verify_checksum(src, dst)?;

    let (interval, auth) = match version {
        Version::V3 => {
            let interval = packet.max_adver_int();
            if interval == 0 {
                return Err(Error::BadInterval);
            }
            (interval, Auth::None)
        }
        Version::V2 => {
            let auth = match packet.auth_type() {
                AUTH_TYPE_NONE => Auth::None,
                AUTH_TYPE_PASSWORD => Auth::Password(*packet.auth_data().ok_or(Error::BadLength)?),
                AUTH_TYPE_AH => return Err(Error::AuthAhUnsupported),
                other => return Err(Error::UnknownAuthType(other)),
            };
            (u16::from(packet.adver_int()), auth)
        }
    };

    let addrs: Vec<IpAddr> = packet.addrs(family).collect();
    if addrs.len() != usize::from(packet.addr_count()) {
        // Unreachable after check_len; kept so a logic slip cannot yield a short list.
        return Err(Error::BadLength);
    }

    Ok(Parsed {
        advert: Advert {
            version,
            vrid: packet.vrid(),
            priority: packet.priority(),
            interval,
            addrs,
            auth,
        },
        checksum_form,
    })
}

/// Write `bytes` at `buf[at..]`, or [`Error::BufferTooSmall`].
/// Setters: each writes one field through its range in [`field`] (smoltcp style), so the layout
/// is stated once for reading and writing. A field beyond the buffer is
/// [`Error::BufferTooSmall`]; nothing panics.
impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn put_at(&mut self, at: usize, bytes: &[u8]) -> Result<(), Error> {
        put(self.buffer.as_mut(), at, bytes).map(drop)
    }

    /// Version and type nibbles (RFC 3768 §5.3.1–5.3.2, RFC 9568 §5.2.1–5.2.2).
    pub fn set_version_type(&mut self, version: u8, kind: u8) -> Result<(), Error> {
        self.put_at(field::VER_TYPE, &[(version << 4) | (kind & 0x0f)])
    }

    /// Virtual Router Identifier.
    pub fn set_vrid(&mut self, vrid: u8) -> Result<(), Error> {
        self.put_at(field::VRID, &[vrid])
    }

    /// Priority.
    pub fn set_priority(&mut self, priority: u8) -> Result<(), Error> {
        self.put_at(field::PRIORITY, &[priority])
    }

    /// Count of addresses.
    pub fn set_addr_count(&mut self, count: u8) -> Result<(), Error> {
        self.put_at(field::COUNT, &[count])
    }

    /// VRRPv2 Auth Type (RFC 3768 §5.3.6).
    pub fn set_auth_type(&mut self, auth_type: u8) -> Result<(), Error> {
        self.put_at(field::AUTH_TYPE, &[auth_type])
    }

    /// VRRPv2 Advertisement Interval in seconds (RFC 3768 §5.3.7).
    pub fn set_adver_int(&mut self, secs: u8) -> Result<(), Error> {
        self.put_at(field::ADVER_INT, &[secs])
    }

    /// VRRPv3 reserve bits 0 and the 12-bit Max Advertise Interval (RFC 9568 §5.2.6–5.2.7).
    pub fn set_max_adver_int(&mut self, cs: u16) -> Result<(), Error> {
        self.put_at(
            field::MAX_ADVER_INT.start,
            &(cs & MAX_V3_INTERVAL).to_be_bytes(),
        )
    }

    /// The checksum field.
    pub fn set_checksum(&mut self, checksum: u16) -> Result<(), Error> {
        self.put_at(field::CHECKSUM.start, &checksum.to_be_bytes())
    }

    /// Address number `i`, at the position the version and `addr`'s family give it (4 bytes for
    /// IPv4 and any v2 packet, 16 for v3 IPv6). Set the version first.
    pub fn set_addr(&mut self, i: usize, addr: IpAddr) -> Result<(), Error> {
        let family = Family::of(addr);
        let at = field::ADDRS + i * self.addr_len(family);
        match addr {
            IpAddr::V4(a) => self.put_at(at, &a.octets()),
            IpAddr::V6(a) => self.put_at(at, &a.octets()),
        }
    }

    /// VRRPv2 Authentication Data, after the `count` addresses (RFC 3768 §5.3.10). Set the count
    /// first.
    pub fn set_auth_data(&mut self, data: &[u8; AUTH_DATA_LEN]) -> Result<(), Error> {
        let at = field::ADDRS + 4 * usize::from(self.addr_count());
        self.put_at(at, data)
    }
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) -> Result<usize, Error> {
    let end = at + bytes.len();
    buf.get_mut(at..end)
        .ok_or(Error::BufferTooSmall)?
        .copy_from_slice(bytes);
    Ok(end)
}

impl Advert {
    /// The family of the first address, if any.
    pub fn family(&self) -> Option<Family> {
        self.addrs.first().map(|&a| Family::of(a))
    }

    /// Bytes needed to emit this advert: 8-byte header, 4 bytes per IPv4 and 16 per IPv6 address,
    /// and for v2 the 8 bytes of Authentication Data (RFC 3768 §5.1, RFC 9568 §5.1).
    pub fn buffer_len(&self) -> usize {
        let addrs: usize = self
            .addrs
            .iter()
            .map(|a| match a {
                IpAddr::V4(_) => 4,
                IpAddr::V6(_) => 16,
            })
            .sum();
        let trailer = match self.version {
            Version::V2 => AUTH_DATA_LEN,
            Version::V3 => 0,
        };
        HEADER_LEN + addrs + trailer
    }

    /// Check that this advert can be emitted between `src` and `dst`; returns the family.
    fn validate(&self, src: IpAddr, dst: IpAddr) -> Result<Family, Error> {
        let family = family_of(src, dst)?;
        if self.version == Version::V2 && family == Family::V6 {
            return Err(Error::BadVersion(2));
        }
        if self.addrs.is_empty() || self.addrs.len() > usize::from(u8::MAX) {
            return Err(Error::BadAddrCount);
        }
        for a in &self.addrs {
            match (a, family) {
                (IpAddr::V4(_), Family::V4) | (IpAddr::V6(_), Family::V6) => {}
                _ => return Err(Error::FamilyMismatch),
            }
        }
        let range = match self.version {
            Version::V2 => 1..=u16::from(u8::MAX),
            Version::V3 => 1..=MAX_V3_INTERVAL,
        };
        if !range.contains(&self.interval) {
            return Err(Error::BadInterval);
        }
        Ok(family)
    }

    /// Emit into `buf`, returning the number of bytes written. `form` applies to VRRPv3 over IPv4.
    ///
    /// Writes [`buffer_len`](Self::buffer_len) bytes and leaves the rest of `buf` untouched:
    /// version, type 1, VRID, priority, count; v2: auth type and Adver Int, v3: reserve bits 0 and
    /// the 12-bit Max Advertise Interval (RFC 9568 §5.2.6–5.2.7); the addresses; v2: the 8 bytes of
    /// Authentication Data (zeros for [`Auth::None`], RFC 3768 §5.3.10); last the checksum
    /// (RFC 3768 §5.3.8: message only; RFC 9568 §5.2.8: IPv6 with the RFC 8200 §8.1 pseudo-header,
    /// IPv4 per `form`). The v3 `auth` field is ignored.
    ///
    /// Refused: `src`, `dst` and addresses not all of one family ([`Error::FamilyMismatch`]); v2
    /// over IPv6 ([`Error::BadVersion`]); 0 or more than 255 addresses ([`Error::BadAddrCount`]);
    /// an interval outside 1–4095 (v3, erratum 8301) or 1–255 (v2) ([`Error::BadInterval`]); a
    /// short buffer ([`Error::BufferTooSmall`]). The addresses go out in the order given: an IPv6
    /// list without a link-local address first (RFC 9568 §5.2.9) is sent as configured, as
    /// keepalived and FRR do (see [`parse`]); the CLI puts a link-local VIP first.
    pub fn emit(
        &self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        form: ChecksumForm,
    ) -> Result<usize, Error> {
        let family = self.validate(src, dst)?;
        let len = self.buffer_len();
        if buf.len() < len {
            return Err(Error::BufferTooSmall);
        }
        let count = u8::try_from(self.addrs.len()).map_err(|_| Error::BadAddrCount)?;
        let at = len;
        let mut p = Packet::new_unchecked(buf.get_mut(..at).ok_or(Error::BufferTooSmall)?);
        p.set_version_type(self.version.number(), TYPE_ADVERTISEMENT)?;
        p.set_vrid(self.vrid)?;
        p.set_priority(self.priority)?;
        p.set_addr_count(count)?;
        match self.version {
            Version::V2 => {
                p.set_auth_type(self.auth.type_number())?;
                p.set_adver_int(u8::try_from(self.interval).map_err(|_| Error::BadInterval)?)?;
            }
            Version::V3 => p.set_max_adver_int(self.interval)?,
        }
        p.set_checksum(0)?;
        for (i, a) in self.addrs.iter().enumerate() {
            p.set_addr(i, *a)?;
        }
        if self.version == Version::V2 {
            p.set_auth_data(&self.auth.data())?;
        }

        let msg = buf.get(..at).ok_or(Error::BufferTooSmall)?;
        let mut acc = InternetChecksum::new();
        match (self.version, family, src, dst) {
            (Version::V3, Family::V4, IpAddr::V4(s), IpAddr::V4(d))
                if form == ChecksumForm::Pseudo =>
            {
                let l = u16::try_from(at).map_err(|_| Error::BufferTooSmall)?;
                acc.add_ipv4_pseudo_header(s, d, IP_PROTOCOL, l);
            }
            (Version::V3, Family::V6, IpAddr::V6(s), IpAddr::V6(d)) => {
                let l = u32::try_from(at).map_err(|_| Error::BufferTooSmall)?;
                acc.add_ipv6_pseudo_header(s, d, IP_PROTOCOL, l);
            }
            _ => {}
        }
        acc.add_bytes(msg);
        Packet::new_unchecked(&mut *buf).set_checksum(acc.checksum())?;
        Ok(at)
    }

    /// Emit into a new vector.
    pub fn to_bytes(&self, src: IpAddr, dst: IpAddr, form: ChecksumForm) -> Result<Vec<u8>, Error> {
        let mut v = vec![0u8; self.buffer_len()];
        let n = self.emit(&mut v, src, dst, form)?;
        v.truncate(n);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const GROUP4: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
    const SRC6: IpAddr = IpAddr::V6(Ipv6Addr::new(
        0xfe80, 0, 0, 0, 0xd855, 0xe7ff, 0xfef0, 0x1d2d,
    ));
    const GROUP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12));

    /// A keepalived 2.2.7 advert, VRID 52, 192.0.2.1 → 224.0.0.18, pseudo form (RFC 5798 §5.2.8).
    const N1_BYTES: [u8; 12] = [
        0x31, 0x34, 0xc8, 0x01, 0x00, 0x0a, 0xa1, 0x34, 0xc0, 0x00, 0x02, 0xfa,
    ];
    /// Same, plain form.
    const N2_BYTES: [u8; 12] = [
        0x31, 0x34, 0xc8, 0x01, 0x00, 0x0a, 0x43, 0xc5, 0xc0, 0x00, 0x02, 0xfa,
    ];

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn n1_advert() -> Advert {
        Advert {
            version: Version::V3,
            vrid: 52,
            priority: 200,
            interval: 10,
            addrs: vec![v4(192, 0, 2, 250)],
            auth: Auth::None,
        }
    }

    fn n7_advert() -> Advert {
        Advert {
            version: Version::V3,
            vrid: 53,
            priority: 100,
            interval: 100,
            addrs: vec!["fe80::53".parse().unwrap(), "2001:db8::fe".parse().unwrap()],
            auth: Auth::None,
        }
    }

    fn n7_bytes() -> Vec<u8> {
        hex("31 35 64 02 00 64 62 37
             fe80 0000 0000 0000 0000 0000 0000 0053
             2001 0db8 0000 0000 0000 0000 0000 00fe")
    }

    fn n12_bytes() -> Vec<u8> {
        hex("21 36 fe 01 00 02 1d d5 c0 00 02 f0 00 00 00 00 00 00 00 00")
    }

    fn n13_bytes() -> Vec<u8> {
        hex("21 33 96 02 01 01 54 80 c0 00 02 fe c0 00 02 fd 73 65 63 72 65 74 31 00")
    }

    /// Recompute a v3-over-IPv4 pseudo-form checksum after editing a test packet.
    fn fix_pseudo_v4(b: &mut [u8], msg_len: usize) {
        b[6] = 0;
        b[7] = 0;
        let mut acc = InternetChecksum::new();
        acc.add_ipv4_pseudo_header(
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(224, 0, 0, 18),
            112,
            msg_len as u16,
        )
        .add_bytes(&b[..msg_len]);
        b[6..8].copy_from_slice(&acc.checksum().to_be_bytes());
    }

    // ---- RFC 1071 ------------------------------------------------------------------------

    /// RFC 1071 §3 numerical example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
    #[test]
    fn rfc1071_s3_example_sum() {
        let mut acc = InternetChecksum::new();
        acc.add_bytes(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
        assert_eq!(acc.sum(), 0xddf2);
        assert_eq!(acc.checksum(), 0x220d);
        assert_eq!(
            internet_checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]]),
            0x220d
        );
    }

    /// RFC 1071 §4.1: an odd final byte is padded with zero; chunking does not matter.
    #[test]
    fn rfc1071_odd_chunks_equal_concatenation() {
        let data: Vec<u8> = (0u8..=50).map(|x| x.wrapping_mul(37)).collect();
        let whole = internet_checksum(&[&data]);
        for cut1 in 0..data.len() {
            for cut2 in cut1..data.len() {
                let parts = [&data[..cut1], &data[cut1..cut2], &data[cut2..]];
                assert_eq!(internet_checksum(&parts), whole, "cuts {cut1} {cut2}");
            }
        }
        assert_eq!(internet_checksum(&[&[0xab]]), !0xab00);
        assert_eq!(internet_checksum(&[]), 0xffff);
    }

    /// RFC 1071 §1: data summed with its checksum verifies.
    #[test]
    fn rfc1071_verification() {
        let mut acc = InternetChecksum::new();
        acc.add_bytes(&N2_BYTES);
        assert!(acc.verifies());
        let mut acc = InternetChecksum::new();
        acc.add_bytes(&N1_BYTES);
        assert!(!acc.verifies());
    }

    // ---- Conformance N1–N20 ------------------------------------------------------------------

    /// N1 (RFC 9568 §5.1, §5.2.8 pseudo form): encode v3 VRID 52 prio 200 int 10 VIP 192.0.2.250.
    #[test]
    fn n1_encode_v3_ipv4_pseudo_vector() {
        let bytes = n1_advert()
            .to_bytes(SRC4, GROUP4, ChecksumForm::Pseudo)
            .unwrap();
        assert_eq!(bytes, N1_BYTES);
    }

    /// N2 (RFC 9568 §5.2.8): the plain form (message only) gives 0x43c5.
    #[test]
    fn n2_encode_v3_ipv4_plain_checksum() {
        let bytes = n1_advert()
            .to_bytes(SRC4, GROUP4, ChecksumForm::Plain)
            .unwrap();
        assert_eq!(bytes, N2_BYTES);
        assert_eq!(Packet::new_unchecked(&bytes).checksum(), 0x43c5);
    }

    /// N3 (RFC 9568 §5.2): decode the N1 vector field by field.
    #[test]
    fn n3_decode_v3_fields() {
        let p = Packet::new_checked(&N1_BYTES[..], Family::V4).unwrap();
        assert_eq!(p.version(), 3);
        assert_eq!(p.kind(), 1);
        assert_eq!(p.vrid(), 52);
        assert_eq!(p.priority(), 200);
        assert_eq!(p.addr_count(), 1);
        assert_eq!(p.max_adver_int(), 10);
        assert_eq!(p.checksum(), 0xa134);
        assert_eq!(p.addr_v4(0), Some(Ipv4Addr::new(192, 0, 2, 250)));
        assert_eq!(p.addr_v4(1), None);
        assert_eq!(p.auth_data(), None);
        let parsed = parse(&N1_BYTES, SRC4, GROUP4).unwrap();
        assert_eq!(parsed.advert, n1_advert());
        assert_eq!(parsed.checksum_form, Some(ChecksumForm::Pseudo));
    }

    /// N4 (RFC 9568 §5.2.7): interval 4095 is bytes 4–5 `0f ff` and round-trips.
    #[test]
    fn n4_interval_4095_round_trip() {
        let a = Advert {
            interval: 4095,
            ..n1_advert()
        };
        let bytes = a.to_bytes(SRC4, GROUP4, ChecksumForm::Pseudo).unwrap();
        assert_eq!(bytes, hex("31 34 c8 01 0f ff 91 3f c0 00 02 fa"));
        assert_eq!(parse(&bytes, SRC4, GROUP4).unwrap().advert, a);
    }

    /// N5 (RFC 9568 §5.2.6): reserve bits `f` in `f0 64` are ignored on receive (interval 100),
    /// and sent as 0.
    #[test]
    fn n5_reserve_bits_ignored_and_sent_zero() {
        let rx = hex("31 34 c8 01 f0 64 b0 d9 c0 00 02 fa");
        let p = Packet::new_unchecked(&rx);
        assert_eq!(p.reserved(), 0xf);
        assert_eq!(p.max_adver_int(), 100);
        let parsed = parse(&rx, SRC4, GROUP4).unwrap();
        assert_eq!(parsed.advert.interval, 100);
        let tx = parsed
            .advert
            .to_bytes(SRC4, GROUP4, ChecksumForm::Pseudo)
            .unwrap();
        assert_eq!(tx, hex("31 34 c8 01 00 64 a0 da c0 00 02 fa"));
        assert_eq!(Packet::new_unchecked(&tx).reserved(), 0);
    }

    /// N6 (erratum 8301, RFC 9568 §5.2.7): interval 0 or 4096 is refused on emit.
    #[test]
    fn n6_emit_refuses_interval_0_and_4096() {
        for interval in [0, 4096, u16::MAX] {
            let a = Advert {
                interval,
                ..n1_advert()
            };
            assert_eq!(
                a.to_bytes(SRC4, GROUP4, ChecksumForm::Pseudo),
                Err(Error::BadInterval)
            );
        }
        let a = Advert {
            interval: 1,
            ..n1_advert()
        };
        assert!(a.to_bytes(SRC4, GROUP4, ChecksumForm::Pseudo).is_ok());
    }

    /// N7 (RFC 9568 §5.2.8, RFC 8200 §8.1): the keepalived IPv6 vector, VRID 53, 0x6237, verifies
    /// with the IPv6 pseudo-header, and encodes identically.
    #[test]
    fn n7_ipv6_vector_pseudo_header() {
        let bytes = n7_bytes();
        let parsed = parse(&bytes, SRC6, GROUP6).unwrap();
        assert_eq!(parsed.advert, n7_advert());
        assert_eq!(parsed.checksum_form, None);
        assert_eq!(Packet::new_unchecked(&bytes).checksum(), 0x6237);
        // IPv6 is always pseudo-header, whatever form is asked for.
        for form in [ChecksumForm::Pseudo, ChecksumForm::Plain] {
            assert_eq!(n7_advert().to_bytes(SRC6, GROUP6, form).unwrap(), bytes);
        }
    }

    /// N8 (RFC 9568 §5.2.8): an IPv6 advert with the message-only checksum is bad_checksum.
    #[test]
    fn n8_ipv6_plain_checksum_rejected() {
        let mut bytes = n7_bytes();
        bytes[6..8].copy_from_slice(&[0x3c, 0xd9]);
        assert_eq!(internet_checksum(&[&bytes[..6], &bytes[8..]]), 0x3cd9);
        let err = parse(&bytes, SRC6, GROUP6).unwrap_err();
        assert_eq!(err, Error::BadChecksum);
        assert_eq!(err.reason(), DiscardReason::BadChecksum);
    }

    /// N9 (RFC 9568 §5.2.8 and §1.1 item 4): v3 IPv4 plain form is accepted and reported.
    #[test]
    fn n9_v3_ipv4_plain_form_accepted() {
        let parsed = parse(&N2_BYTES, SRC4, GROUP4).unwrap();
        assert_eq!(parsed.checksum_form, Some(ChecksumForm::Plain));
        assert_eq!(parsed.advert, n1_advert());
    }

    /// N10 (RFC 5798 §5.2.8, as keepalived and FRR send by default): v3 IPv4 pseudo form is accepted and reported.
    #[test]
    fn n10_v3_ipv4_pseudo_form_accepted() {
        let parsed = parse(&N1_BYTES, SRC4, GROUP4).unwrap();
        assert_eq!(parsed.checksum_form, Some(ChecksumForm::Pseudo));
    }

    /// N11 (RFC 9568 §7.1): a v3 IPv4 checksum matching neither form is bad_checksum.
    #[test]
    fn n11_v3_ipv4_neither_form_rejected() {
        for csum in [[0x00, 0x00], [0xa1, 0x35], [0x43, 0xc4], [0xff, 0xff]] {
            let mut b = N1_BYTES;
            b[6..8].copy_from_slice(&csum);
            assert_eq!(parse(&b, SRC4, GROUP4), Err(Error::BadChecksum));
        }
        // A corrupted address also fails both forms.
        let mut b = N1_BYTES;
        b[11] ^= 1;
        assert_eq!(parse(&b, SRC4, GROUP4), Err(Error::BadChecksum));
    }

    /// N11 corollary (RFC 9568 §5.2.8; keepalived's pseudo dst is the packet's IP dst): the pseudo form
    /// is computed with the `dst` given, so a unicast-addressed advert verifies only with it.
    #[test]
    fn pseudo_form_uses_packet_destination() {
        let unicast = v4(192, 0, 2, 2);
        let bytes = n1_advert()
            .to_bytes(SRC4, unicast, ChecksumForm::Pseudo)
            .unwrap();
        assert_eq!(bytes, hex("31 34 c8 01 00 0a bf 44 c0 00 02 fa"));
        assert_eq!(
            parse(&bytes, SRC4, unicast).unwrap().checksum_form,
            Some(ChecksumForm::Pseudo)
        );
        assert_eq!(parse(&bytes, SRC4, GROUP4), Err(Error::BadChecksum));
        // The source also matters.
        assert_eq!(
            parse(&N1_BYTES, v4(192, 0, 2, 3), GROUP4),
            Err(Error::BadChecksum)
        );
    }

    /// Digest §2 edge case: when the IPv4 pseudo-header sums to negative zero both forms give the
    /// same checksum; parse then reports `Pseudo` (our default form).
    #[test]
    fn pseudo_and_plain_coincide_reports_pseudo() {
        let src = v4(10, 0, 21, 113); // 0x0a00 + 0x1571 + 0xe000 + 0x0012 + 0x0070 + 0x000c = 0xffff
        let pseudo = n1_advert()
            .to_bytes(src, GROUP4, ChecksumForm::Pseudo)
            .unwrap();
        let plain = n1_advert()
            .to_bytes(src, GROUP4, ChecksumForm::Plain)
            .unwrap();
        assert_eq!(pseudo, plain);
        assert_eq!(plain, N2_BYTES);
        assert_eq!(
            parse(&plain, src, GROUP4).unwrap().checksum_form,
            Some(ChecksumForm::Pseudo)
        );
    }

    /// N12 (RFC 3768 §5.3.8): v2 VRID 54 prio 254 2 s no auth is 20 bytes with checksum 0x1dd5.
    #[test]
    fn n12_v2_no_auth_vector() {
        let a = Advert {
            version: Version::V2,
            vrid: 54,
            priority: 254,
            interval: 2,
            addrs: vec![v4(192, 0, 2, 240)],
            auth: Auth::None,
        };
        let bytes = a.to_bytes(SRC4, GROUP4, ChecksumForm::Pseudo).unwrap();
        assert_eq!(bytes.len(), 20);
        assert_eq!(bytes, n12_bytes());
        // v2 is always the plain form, whatever `form` says.
        assert_eq!(
            a.to_bytes(SRC4, GROUP4, ChecksumForm::Plain).unwrap(),
            bytes
        );
        let parsed = parse(&bytes, SRC4, GROUP4).unwrap();
        assert_eq!(parsed.advert, a);
        assert_eq!(parsed.checksum_form, None);
        // The v2 checksum does not depend on the IP addresses.
        assert!(parse(&bytes, v4(10, 9, 8, 7), v4(10, 1, 1, 1)).is_ok());
    }

    /// N13 (RFC 3768 §5.1, §5.3.10): type-1 password "secret1" is 8 bytes after the addresses,
    /// inside the checksum (keepalived VRID 51 vector).
    #[test]
    fn n13_v2_password_after_addresses() {
        let a = Advert {
            version: Version::V2,
            vrid: 51,
            priority: 150,
            interval: 1,
            addrs: vec![v4(192, 0, 2, 254), v4(192, 0, 2, 253)],
            auth: Auth::password(b"secret1").unwrap(),
        };
        let bytes = a.to_bytes(SRC4, GROUP4, ChecksumForm::Pseudo).unwrap();
        assert_eq!(bytes, n13_bytes());
        let p = Packet::new_checked(&bytes[..], Family::V4).unwrap();
        assert_eq!(p.auth_type(), 1);
        assert_eq!(p.adver_int(), 1);
        assert_eq!(p.auth_data(), Some(b"secret1\0"));
        assert_eq!(parse(&bytes, SRC4, GROUP4).unwrap().advert, a);
        // Corrupting the password breaks the checksum: it is covered.
        let mut bad = bytes.clone();
        bad[20] ^= 0x20;
        assert_eq!(parse(&bad, SRC4, GROUP4), Err(Error::BadChecksum));
    }

    /// N14 (RFC 3768 §7.1): a v2 packet without its 8 auth bytes is bad_length.
    #[test]
    fn n14_v2_missing_auth_data() {
        let bytes = n12_bytes();
        for cut in 8..bytes.len() {
            let err = parse(&bytes[..cut], SRC4, GROUP4).unwrap_err();
            assert_eq!(err, Error::BadLength, "len {cut}");
            assert_eq!(err.reason(), DiscardReason::BadLength);
        }
    }

    /// N15 (RFC 9568 §7.1): count 3 with only 2 addresses present is bad_length.
    #[test]
    fn n15_v3_count_exceeds_addresses() {
        let full = hex("31 34 c8 03 00 0a 1b 32 c0 00 02 fa c0 00 02 fb c0 00 02 fc");
        assert_eq!(parse(&full, SRC4, GROUP4).unwrap().advert.addrs.len(), 3);
        assert_eq!(parse(&full[..16], SRC4, GROUP4), Err(Error::BadLength));
        assert_eq!(
            Packet::new_checked(&full[..16], Family::V4).unwrap_err(),
            Error::BadLength
        );
        // IPv6: count 2 needs 8 + 32 bytes.
        let v6 = n7_bytes();
        assert_eq!(parse(&v6[..39], SRC6, GROUP6), Err(Error::BadLength));
    }

    /// N16 (RFC 9568 §7.1): 20 padding bytes are accepted; the checksum covers 8 + 4n only.
    #[test]
    fn n16_padding_ignored() {
        for pad in [0x00, 0x5a, 0xff] {
            let mut b = N1_BYTES.to_vec();
            b.extend(vec![pad; 20]);
            let parsed = parse(&b, SRC4, GROUP4).unwrap();
            assert_eq!(parsed.advert, n1_advert());
            assert_eq!(parsed.checksum_form, Some(ChecksumForm::Pseudo));
        }
        // Same for v2 and IPv6.
        let mut b = n13_bytes();
        b.extend([1, 2, 3]);
        assert!(parse(&b, SRC4, GROUP4).is_ok());
        let mut b = n7_bytes();
        b.extend([9; 7]);
        assert!(parse(&b, SRC6, GROUP6).is_ok());
    }

    /// N17 (RFC 9568 §5.2.5, erratum 8299): count 0 is bad_addr_count.
    #[test]
    fn n17_count_zero() {
        let b = hex("31 34 c8 00 00 0a 64 34");
        assert_eq!(parse(&b, SRC4, GROUP4), Err(Error::BadAddrCount));
        assert_eq!(Error::BadAddrCount.reason(), DiscardReason::BadAddrCount);
        let v2 = hex("21 36 fe 00 00 02 e0 c6 00 00 00 00 00 00 00 00");
        assert_eq!(parse(&v2, SRC4, GROUP4), Err(Error::BadAddrCount));
        let a = Advert {
            addrs: vec![],
            ..n1_advert()
        };
        assert_eq!(
            a.to_bytes(SRC4, GROUP4, ChecksumForm::Pseudo),
            Err(Error::BadAddrCount)
        );
    }

    /// N18 (erratum 8301): a v3 interval of 0 is bad_interval, in both checksum forms.
    #[test]
    fn n18_v3_interval_zero() {
        for b in [
            hex("31 34 c8 01 00 00 a1 3e c0 00 02 fa"),
            hex("31 34 c8 01 00 00 43 cf c0 00 02 fa"),
        ] {
            let err = parse(&b, SRC4, GROUP4).unwrap_err();
            assert_eq!(err, Error::BadInterval);
            assert_eq!(err.reason(), DiscardReason::BadInterval);
        }
        // Reserve bits set, interval bits 0: still 0.
        let mut b = hex("31 34 c8 01 f0 00 00 00 c0 00 02 fa");
        fix_pseudo_v4(&mut b, 12);
        assert_eq!(parse(&b, SRC4, GROUP4), Err(Error::BadInterval));
    }

    /// N19 (RFC 9568 §5.2.9, erratum 8300), adjusted for interop: an IPv6 advert whose first
    /// address is 2001:db8::1 parses (the state machine notes it as `bad_v6_first_addr` and
    /// processes it), because keepalived 2.2.7 and FRR 8.4 send exactly that: only the global VIP.
    #[test]
    fn n19_ipv6_first_address_not_link_local_parses() {
        let b = hex("31 35 64 02 00 64 63 34
                     2001 0db8 0000 0000 0000 0000 0000 0001
                     fe80 0000 0000 0000 0000 0000 0000 0053");
        let parsed = parse(&b, SRC6, GROUP6).unwrap();
        let a = Advert {
            addrs: vec!["2001:db8::1".parse().unwrap(), "fe80::53".parse().unwrap()],
            ..n7_advert()
        };
        assert_eq!(parsed.advert, a);
        // Emit sends the list in the order configured, and it round-trips.
        assert_eq!(a.to_bytes(SRC6, GROUP6, ChecksumForm::Pseudo).unwrap(), b);
        // fe80::/10 includes febf::; fec0:: is outside.
        assert!(is_ipv6_link_local(&"fe80::1".parse().unwrap()));
        assert!(is_ipv6_link_local(&"febf::1".parse().unwrap()));
        assert!(!is_ipv6_link_local(&"fec0::1".parse().unwrap()));
        assert!(!is_ipv6_link_local(&"2001:db8::1".parse().unwrap()));
    }

    /// The keepalived 2.2.7 IPv6 advert captured in tests/interop.rs: VRID 51, priority 200,
    /// 10 cs, one address, the global VIP 2001:db8::fe, from fe80::a4e3:37ff:fea2:addf.
    #[test]
    fn keepalived_ipv6_global_only_advert_parses() {
        let b = hex("31 33 c8 01 00 0a 50 86 2001 0db8 0000 0000 0000 0000 0000 00fe");
        let src: IpAddr = "fe80::a4e3:37ff:fea2:addf".parse().unwrap();
        let parsed = parse(&b, src, GROUP6).unwrap();
        assert_eq!(parsed.advert.priority, 200);
        assert_eq!(parsed.advert.interval, 10);
        assert_eq!(
            parsed.advert.addrs,
            vec!["2001:db8::fe".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            parsed
                .advert
                .to_bytes(src, GROUP6, ChecksumForm::Pseudo)
                .unwrap(),
            b
        );
    }

    /// N20 (RFC 9568 §5.2.2): type 2 is bad_type.
    #[test]
    fn n20_type_not_advertisement() {
        let b = hex("32 34 c8 01 00 0a a0 34 c0 00 02 fa");
        assert_eq!(parse(&b, SRC4, GROUP4), Err(Error::BadType(2)));
        assert_eq!(Error::BadType(2).reason(), DiscardReason::BadType);
        for t in [0u8, 3, 15] {
            let mut b = N1_BYTES;
            b[0] = 0x30 | t;
            assert_eq!(parse(&b, SRC4, GROUP4), Err(Error::BadType(t)));
        }
    }

    // ---- Further rules -----------------------------------------------------------------------

    /// RFC 9568 §5.2.1 / RFC 3768 §5.3.1: only versions 2 and 3; VRRPv2 is IPv4 only.
    #[test]
    fn version_checks() {
        for v in [0u8, 1, 4, 15] {
            let mut b = N1_BYTES;
            b[0] = (v << 4) | 1;
            assert_eq!(parse(&b, SRC4, GROUP4), Err(Error::BadVersion(v)));
        }
        let mut b = n12_bytes();
        b.extend([0; 12]); // long enough for any reading
        assert_eq!(parse(&b, SRC6, GROUP6), Err(Error::BadVersion(2)));
        assert_eq!(Error::BadVersion(2).reason(), DiscardReason::BadVersion);
        let a = Advert {
            version: Version::V2,
            interval: 1,
            addrs: vec!["fe80::1".parse().unwrap()],
            ..n1_advert()
        };
        assert_eq!(
            a.to_bytes(SRC6, GROUP6, ChecksumForm::Plain),
            Err(Error::BadVersion(2))
        );
    }

    /// RFC 3768 §5.3.6: auth type 2 (IP AH) is recognised but unsupported; others are unknown.
    #[test]
    fn v2_auth_types() {
        let ah = hex("21 33 96 01 02 01 83 cb c0 00 02 fe 00 00 00 00 00 00 00 00");
        assert_eq!(parse(&ah, SRC4, GROUP4), Err(Error::AuthAhUnsupported));
        let t3 = hex("21 33 96 01 03 01 82 cb c0 00 02 fe 00 00 00 00 00 00 00 00");
        assert_eq!(parse(&t3, SRC4, GROUP4), Err(Error::UnknownAuthType(3)));
        assert_eq!(
            Error::AuthAhUnsupported.reason(),
            DiscardReason::BadAuthType
        );
        assert_eq!(
            Error::UnknownAuthType(3).reason(),
            DiscardReason::BadAuthType
        );
    }

    /// RFC 3768 §5.3.7: a v2 Adver Int of 0 parses (the interval receive check discards it), but
    /// is never emitted; nor is one above 255 (8-bit field).
    #[test]
    fn v2_interval_bounds() {
        let b = hex("21 33 96 01 00 00 85 cc c0 00 02 fe 00 00 00 00 00 00 00 00");
        assert_eq!(parse(&b, SRC4, GROUP4).unwrap().advert.interval, 0);
        let base = Advert {
            version: Version::V2,
            vrid: 1,
            priority: 100,
            interval: 255,
            addrs: vec![v4(10, 0, 0, 1)],
            auth: Auth::None,
        };
        assert!(base.to_bytes(SRC4, GROUP4, ChecksumForm::Plain).is_ok());
        for interval in [0, 256] {
            let a = Advert {
                interval,
                ..base.clone()
            };
            assert_eq!(
                a.to_bytes(SRC4, GROUP4, ChecksumForm::Plain),
                Err(Error::BadInterval)
            );
        }
    }

    /// Fewer than 8 bytes is TooShort (counted as bad_length, RFC 9568 §7.1).
    #[test]
    fn too_short() {
        for len in 0..HEADER_LEN {
            assert_eq!(parse(&N1_BYTES[..len], SRC4, GROUP4), Err(Error::TooShort));
            assert_eq!(
                Packet::new_checked(&N1_BYTES[..len], Family::V4).unwrap_err(),
                Error::TooShort
            );
        }
        assert_eq!(Error::TooShort.reason(), DiscardReason::BadLength);
        // Accessors on a short unchecked view never panic.
        let p = Packet::new_unchecked(&[0x31u8][..]);
        assert_eq!(
            (p.version(), p.kind(), p.vrid(), p.checksum()),
            (3, 1, 0, 0)
        );
        assert_eq!(p.addr(Family::V4, 0), None);
        assert_eq!(p.message(Family::V4), None);
        assert_eq!(p.auth_data(), None);
    }

    /// The IP source and destination must share a family, and the addresses must match it.
    #[test]
    fn family_mismatch() {
        assert_eq!(parse(&N1_BYTES, SRC4, GROUP6), Err(Error::FamilyMismatch));
        assert_eq!(parse(&N1_BYTES, SRC6, GROUP4), Err(Error::FamilyMismatch));
        assert_eq!(Error::FamilyMismatch.reason(), DiscardReason::BadFamily);
        assert_eq!(
            n1_advert().to_bytes(SRC6, GROUP6, ChecksumForm::Pseudo),
            Err(Error::FamilyMismatch)
        );
        assert_eq!(
            n7_advert().to_bytes(SRC4, GROUP4, ChecksumForm::Pseudo),
            Err(Error::FamilyMismatch)
        );
        assert_eq!(
            n1_advert().to_bytes(SRC4, GROUP6, ChecksumForm::Pseudo),
            Err(Error::FamilyMismatch)
        );
        let mixed = Advert {
            addrs: vec![v4(192, 0, 2, 250), "fe80::1".parse().unwrap()],
            ..n1_advert()
        };
        assert_eq!(
            mixed.to_bytes(SRC4, GROUP4, ChecksumForm::Pseudo),
            Err(Error::FamilyMismatch)
        );
    }

    /// RFC 9568 §5.2.5: at most 255 addresses fit the 8-bit count.
    #[test]
    fn emit_count_bounds() {
        let addrs: Vec<IpAddr> = (0..=255u32)
            .map(|i| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
            .collect();
        let a = Advert {
            addrs: addrs[..255].to_vec(),
            ..n1_advert()
        };
        let bytes = a.to_bytes(SRC4, GROUP4, ChecksumForm::Pseudo).unwrap();
        assert_eq!(bytes.len(), 8 + 4 * 255);
        assert_eq!(parse(&bytes, SRC4, GROUP4).unwrap().advert, a);
        let a = Advert {
            addrs,
            ..n1_advert()
        };
        assert_eq!(
            a.to_bytes(SRC4, GROUP4, ChecksumForm::Pseudo),
            Err(Error::BadAddrCount)
        );
    }

    /// Emit checks the buffer size and writes nothing past `buffer_len()`.
    #[test]
    fn setters_write_through_the_field_ranges() {
        let mut buf = [0u8; 20];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_version_type(2, 1).unwrap();
        p.set_vrid(51).unwrap();
        p.set_priority(150).unwrap();
        p.set_addr_count(2).unwrap();
        p.set_auth_type(0).unwrap();
        p.set_adver_int(1).unwrap();
        p.set_checksum(0xbeef).unwrap();
        p.set_addr(1, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)))
            .unwrap();
        // Two v2 addresses end at 16: the auth data (8 bytes) does not fit 20 bytes.
        assert_eq!(p.set_auth_data(&[7; 8]), Err(Error::BufferTooSmall));
        assert_eq!(
            p.set_addr(4, IpAddr::V4(Ipv4Addr::LOCALHOST)),
            Err(Error::BufferTooSmall)
        );
        let r = Packet::new_unchecked(&buf[..]);
        assert_eq!(
            (r.version(), r.kind(), r.vrid(), r.priority()),
            (2, 1, 51, 150)
        );
        assert_eq!((r.addr_count(), r.auth_type(), r.adver_int()), (2, 0, 1));
        assert_eq!(r.checksum(), 0xbeef);
        assert_eq!(r.addr_v4(1), Some(Ipv4Addr::new(192, 0, 2, 254)));
        let mut v3 = [0xffu8; 8];
        let mut p = Packet::new_unchecked(&mut v3[..]);
        p.set_version_type(3, 1).unwrap();
        p.set_max_adver_int(0xffff).unwrap();
        let r = Packet::new_unchecked(&v3[..]);
        assert_eq!((r.reserved(), r.max_adver_int()), (0, 0x0fff));
    }

    #[test]
    fn emit_buffer_handling() {
        let a = n1_advert();
        assert_eq!(a.buffer_len(), 12);
        assert_eq!(n7_advert().buffer_len(), 40);
        let mut small = [0u8; 11];
        assert_eq!(
            a.emit(&mut small, SRC4, GROUP4, ChecksumForm::Pseudo),
            Err(Error::BufferTooSmall)
        );
        assert_eq!(Error::BufferTooSmall.reason(), DiscardReason::BadLength);
        let mut big = [0xeeu8; 20];
        assert_eq!(a.emit(&mut big, SRC4, GROUP4, ChecksumForm::Pseudo), Ok(12));
        assert_eq!(big[..12], N1_BYTES);
        assert!(big[12..].iter().all(|&b| b == 0xee));
    }

    /// RFC 3768 §5.3.6: passwords are zero padded to 8 bytes; longer ones are refused.
    #[test]
    fn auth_password_helper() {
        assert_eq!(
            Auth::password(b"ab"),
            Some(Auth::Password(*b"ab\0\0\0\0\0\0"))
        );
        assert_eq!(
            Auth::password(b"12345678"),
            Some(Auth::Password(*b"12345678"))
        );
        assert_eq!(Auth::password(b"123456789"), None);
        assert_eq!(Auth::None.data(), [0; 8]);
        assert_eq!(Auth::None.type_number(), 0);
    }

    /// Every error has a description.
    #[test]
    fn error_display() {
        assert_eq!(
            Error::BadType(2).to_string(),
            "VRRP type 2 is not 1 (ADVERTISEMENT)"
        );
        assert!(!Error::FamilyMismatch.to_string().is_empty());
    }
}
