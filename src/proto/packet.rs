//! VRRP advertisement wire format: VRRPv2 (RFC 3768 §5) and VRRPv3 (RFC 9568 §5), IPv4 and IPv6.
//!
//! STUB: the types below are the agreed interface; the bodies are being written.

use core::net::IpAddr;

use super::{ChecksumForm, DiscardReason, Version};

/// VRRPv2 authentication (RFC 3768 §5.3.6). VRRPv3 has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Type 0: no authentication; 8 zero bytes of Auth Data (v2).
    None,
    /// Type 1: simple text password, 8 bytes, zero padded.
    Password([u8; 8]),
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
    /// IPv6 advert whose first address is not link-local (erratum 8300).
    BadV6FirstAddr,
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
            Error::BadV6FirstAddr => DiscardReason::BadV6FirstAddr,
        }
    }
}

/// Parse the bytes after the IP header. `src`/`dst` are the IP source and destination (for the
/// VRRPv3 pseudo-header checksum).
pub fn parse(bytes: &[u8], src: IpAddr, dst: IpAddr) -> Result<Parsed, Error> {
    let _ = (bytes, src, dst);
    Err(Error::TooShort)
}

impl Advert {
    /// Bytes needed to emit this advert.
    pub fn buffer_len(&self) -> usize {
        0
    }

    /// Emit into `buf`, returning the number of bytes written. `form` applies to VRRPv3 over IPv4.
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr, form: ChecksumForm) -> Result<usize, Error> {
        let _ = (buf, src, dst, form);
        Err(Error::BufferTooSmall)
    }

    /// Emit into a new vector.
    pub fn to_bytes(&self, src: IpAddr, dst: IpAddr, form: ChecksumForm) -> Result<Vec<u8>, Error> {
        let mut v = vec![0u8; self.buffer_len()];
        let n = self.emit(&mut v, src, dst, form)?;
        v.truncate(n);
        Ok(v)
    }
}
