//! Per-instance counters, kept in the protocol core so every front end (state dump, JSON, atropos)
//! reports the same numbers.

use core::net::IpAddr;

use super::fsm::State;
use super::{ChecksumForm, DiscardReason};

/// At most this many peers get their own checksum-form row; later peers share
/// [`Counters::checksum_forms_other`].
pub const MAX_CHECKSUM_PEERS: usize = 16;

/// How many VRRPv3-over-IPv4 adverts from one peer verified with each checksum form (RFC 9568 §5.2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerChecksums {
    /// The peer's IP source address.
    pub peer: IpAddr,
    /// Adverts that verified with the pseudo-header form (`csum_form_pseudo`).
    pub pseudo: u64,
    /// Adverts that verified with the plain, message-only form (`csum_form_plain`).
    pub plain: u64,
}

/// Counters of one VRRP instance. Read through the getters; the state machine updates them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    transitions: [[u64; 4]; 4],
    adverts_sent: u64,
    adverts_rcvd: u64,
    prio0_sent: u64,
    prio0_rcvd: u64,
    send_errors: u64,
    discards: [u64; DiscardReason::ALL.len()],
    checksum_peers: Vec<PeerChecksums>,
    checksum_other: (u64, u64),
    master_changes: u64,
    last_master: Option<IpAddr>,
}

fn bump(slot: Option<&mut u64>) {
    if let Some(c) = slot {
        *c = c.saturating_add(1);
    }
}

impl Counters {
    /// Transitions from `from` to `to`.
    pub fn transitions(&self, from: State, to: State) -> u64 {
        self.transitions
            .get(from.index())
            .and_then(|row| row.get(to.index()))
            .copied()
            .unwrap_or(0)
    }

    /// Transitions into `to`, from any state.
    pub fn transitions_into(&self, to: State) -> u64 {
        State::ALL
            .iter()
            .map(|&from| self.transitions(from, to))
            .sum()
    }

    /// All transitions.
    pub fn transitions_total(&self) -> u64 {
        self.transitions.iter().flatten().sum()
    }

    /// Adverts the state machine asked to send (priority 0 included; send failures included).
    pub fn adverts_sent(&self) -> u64 {
        self.adverts_sent
    }

    /// Adverts that passed every receive check.
    pub fn adverts_rcvd(&self) -> u64 {
        self.adverts_rcvd
    }

    /// Priority-0 adverts sent (Master leaving).
    pub fn prio0_sent(&self) -> u64 {
        self.prio0_sent
    }

    /// Priority-0 adverts received (after the receive checks).
    pub fn prio0_rcvd(&self) -> u64 {
        self.prio0_rcvd
    }

    /// Adverts the daemon failed to send ([`crate::proto::fsm::Instance::record_send_error`]).
    pub fn send_errors(&self) -> u64 {
        self.send_errors
    }

    /// Packets counted under `reason` (a discard, or a note such as `interval_mismatch`).
    pub fn discards(&self, reason: DiscardReason) -> u64 {
        self.discards.get(reason.index()).copied().unwrap_or(0)
    }

    /// Every receive counter with its name, in [`DiscardReason::ALL`] order.
    pub fn discard_table(&self) -> impl Iterator<Item = (DiscardReason, u64)> + '_ {
        DiscardReason::ALL.iter().map(|&r| (r, self.discards(r)))
    }

    /// Checksum forms seen per peer, first heard first.
    pub fn checksum_forms(&self) -> &[PeerChecksums] {
        &self.checksum_peers
    }

    /// `(pseudo, plain)` for peers beyond the first [`MAX_CHECKSUM_PEERS`].
    pub fn checksum_forms_other(&self) -> (u64, u64) {
        self.checksum_other
    }

    /// How many times the Master as last heard changed to another router (ourselves included:
    /// becoming Master counts). The first Master heard counts; losing track of the Master (none
    /// known, as in Initialize or Fault) does not, nor does hearing the same one again.
    pub fn master_changes(&self) -> u64 {
        self.master_changes
    }

    /// The checksum forms counted for one peer: `(pseudo, plain)`.
    pub fn checksum_forms_of(&self, peer: IpAddr) -> (u64, u64) {
        self.checksum_peers
            .iter()
            .find(|p| p.peer == peer)
            .map_or((0, 0), |p| (p.pseudo, p.plain))
    }

    /// Called after every event with the Master as now known; counts a change of Master
    /// ([`Counters::master_changes`]).
    pub(crate) fn note_master(&mut self, master: Option<IpAddr>) {
        if let Some(m) = master {
            if self.last_master != Some(m) {
                self.last_master = Some(m);
                bump(Some(&mut self.master_changes));
            }
        }
    }

    pub(crate) fn record_transition(&mut self, from: State, to: State) {
        bump(
            self.transitions
                .get_mut(from.index())
                .and_then(|row| row.get_mut(to.index())),
        );
    }

    pub(crate) fn record_sent(&mut self, priority: u8) {
        bump(Some(&mut self.adverts_sent));
        if priority == 0 {
            bump(Some(&mut self.prio0_sent));
        }
    }

    pub(crate) fn record_rcvd(&mut self, priority: u8) {
        bump(Some(&mut self.adverts_rcvd));
        if priority == 0 {
            bump(Some(&mut self.prio0_rcvd));
        }
    }

    pub(crate) fn record_send_error(&mut self) {
        bump(Some(&mut self.send_errors));
    }

    pub(crate) fn record_discard(&mut self, reason: DiscardReason) {
        bump(self.discards.get_mut(reason.index()));
    }

    pub(crate) fn record_checksum(&mut self, peer: IpAddr, form: ChecksumForm) {
        let row = match self.checksum_peers.iter().position(|p| p.peer == peer) {
            Some(i) => self.checksum_peers.get_mut(i),
            None if self.checksum_peers.len() < MAX_CHECKSUM_PEERS => {
                self.checksum_peers.push(PeerChecksums {
                    peer,
                    pseudo: 0,
                    plain: 0,
                });
                self.checksum_peers.last_mut()
            }
            None => None,
        };
        let (pseudo, plain) = match row {
            Some(p) => (&mut p.pseudo, &mut p.plain),
            None => (&mut self.checksum_other.0, &mut self.checksum_other.1),
        };
        match form {
            ChecksumForm::Pseudo => bump(Some(pseudo)),
            ChecksumForm::Plain => bump(Some(plain)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new Master counts once; the same one again, or none known, does not.
    #[test]
    fn master_changes_count_new_masters_only() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let mut c = Counters::default();
        for m in [None, Some(a), Some(a), None, Some(a), Some(b), Some(a)] {
            c.note_master(m);
        }
        assert_eq!(c.master_changes(), 3);
    }
}
