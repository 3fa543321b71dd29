//! Accept_Mode's packet filter (RFC 9568 §6.1, §6.4.3; RFC 3768 §6.4.3): the table
//! [`crate::proto::accept::plan`] decides, handed to nftables by [`crate::sys::nft`].
//!
//! Life cycle: at start-up a table of our name left by a crashed predecessor is deleted (also
//! when this run needs none: `--no-accept` before a kill -9, default after it), and the table
//! this run needs is created, before any VIP can be added. It stays while the instance runs:
//! its rules only meet packets delivered locally to a VIP, which happens only while the VIPs are
//! on our interface (Active), so entering and leaving Master change nothing here and no `nft`
//! run sits on the takeover path. It is written again when the virtual MAC device comes back
//! under another name (a link-local VIP's rule names it), and deleted at exit.
//!
//! With `--no-accept`, failing to install the table at start-up ends the start-up (exit 1):
//! running would silently accept what the operator asked to refuse. Later failures (re-writing,
//! removing) are logged and counted (`filter_errors` in `atropos --dump`), never fatal: adverts
//! go on whatever `nft` does.

use std::path::PathBuf;
use std::time::Duration;

use super::config::Settings;
use crate::proto::accept::{self, Filter};
use crate::sys::nft::{self, NftError};
use crate::vlog;

/// Longest an `nft` run may take before it is killed. A run takes 5-20 ms; the margin is for a
/// loaded machine. Only start-up, exit and a virtual MAC recreation wait on it.
pub const NFT_TIMEOUT: Duration = Duration::from_secs(2);

/// The installed table of one instance.
#[derive(Debug)]
pub struct AcceptFilter {
    nft: PathBuf,
    filter: Filter,
}

/// Why the table could not be installed at start-up.
#[derive(Debug)]
pub struct InstallError {
    /// `ip vrrpd_eth0_51_v4`.
    pub table: String,
    /// What `nft` said.
    pub err: NftError,
}

impl AcceptFilter {
    /// Start-up: clean a table left by a crash and install the one `s` needs (`ifnames`: the
    /// interface and the virtual MAC device). `Ok(None)`: no filter (Accept_Mode on, owner).
    pub fn open(s: &Settings, ifnames: &[String]) -> Result<Option<AcceptFilter>, InstallError> {
        let tag = crate::proto::tag(&s.interface, s.vrid);
        let vips: Vec<_> = s.vips.iter().map(|v| v.addr).collect();
        // CARP has no Accept_Mode: ucarp hosts always accept (the CLI refuses --no-accept).
        let accept_mode = s.accept || s.carp.is_some();
        let plan = accept::plan(
            accept_mode,
            s.is_owner(),
            &s.interface,
            s.vrid,
            s.family,
            &vips,
            ifnames,
        );
        let table = accept::table_name(&s.interface, s.vrid, s.family);
        let fam = accept::nft_family(s.family);
        let Some(path) = nft::locate() else {
            return match plan {
                None => Ok(None),
                Some(_) => Err(InstallError {
                    table: format!("{fam} {table}"),
                    err: NftError::Missing,
                }),
            };
        };
        let stale = match nft::table_exists(fam, &table, NFT_TIMEOUT) {
            Ok(true) => {
                vlog!(
                    Info,
                    "{tag}: packet filter table {fam} {table} left by a crash: {}",
                    if plan.is_some() {
                        "replacing it"
                    } else {
                        "deleting it (Accept_Mode on)"
                    }
                );
                true
            }
            Ok(false) => false,
            Err(e) => {
                // Nothing of ours can be there if nft cannot even list (no nf_tables); with a
                // plan, the install below reports the error.
                if plan.is_none() {
                    vlog!(
                        Debug,
                        "{tag}: cannot look for a stale table {fam} {table}: {e}"
                    );
                }
                false
            }
        };
        let Some(filter) = plan else {
            if stale {
                if let Err(e) =
                    nft::run_script(&path, &accept::remove_script(s.family, &table), NFT_TIMEOUT)
                {
                    vlog!(
                        Error,
                        "{tag}: cannot delete packet filter table {fam} {table}: {e}"
                    );
                }
            }
            if !s.accept && s.is_owner() {
                vlog!(
                    Info,
                    "{tag}: address owner: traffic to its addresses is accepted (RFC 9568 \
                     section 6.4.3), --no-accept does not apply"
                );
            }
            return Ok(None);
        };
        let started = std::time::Instant::now();
        nft::run_script(&path, &filter.install_script(), NFT_TIMEOUT).map_err(|err| {
            InstallError {
                table: format!("{fam} {table}"),
                err,
            }
        })?;
        vlog!(
            Info,
            "{tag}: Accept_Mode off: packet filter table {fam} {table} drops traffic to the VIPs \
             while master (ARP, NS/NA and VRRP pass; nft took {} ms)",
            started.elapsed().as_millis()
        );
        Ok(Some(AcceptFilter { nft: path, filter }))
    }

    /// The table, `ip vrrpd_eth0_51_v4`.
    pub fn table(&self) -> String {
        format!(
            "{} {}",
            accept::nft_family(self.filter.family),
            self.filter.table
        )
    }

    /// The instance's interfaces changed names (the virtual MAC device was recreated): write
    /// the table again. Errors are returned for the caller to log and count.
    pub fn rename(&mut self, s: &Settings, ifnames: &[String]) -> Result<bool, NftError> {
        let vips: Vec<_> = s.vips.iter().map(|v| v.addr).collect();
        let Some(new) = accept::plan(false, false, &s.interface, s.vrid, s.family, &vips, ifnames)
        else {
            return Ok(false);
        };
        if new == self.filter {
            return Ok(false);
        }
        nft::run_script(&self.nft, &new.install_script(), NFT_TIMEOUT)?;
        self.filter = new;
        Ok(true)
    }

    /// Exit: delete the table.
    pub fn remove(self) -> Result<(), NftError> {
        nft::run_script(&self.nft, &self.filter.remove_script(), NFT_TIMEOUT)
    }
}

/// `vrrpd --cleanup`: delete the table a dead instance of `s` left (whatever its Accept_Mode:
/// the dead one may have run with `--no-accept`). Returns the table removed, if there was one;
/// errors are logged (no nft: nothing of ours can be there).
pub fn remove_stale(s: &Settings) -> Option<String> {
    let tag = crate::proto::tag(&s.interface, s.vrid);
    let path = nft::locate()?;
    let table = accept::table_name(&s.interface, s.vrid, s.family);
    let fam = accept::nft_family(s.family);
    match nft::table_exists(fam, &table, NFT_TIMEOUT) {
        Ok(true) => {}
        Ok(false) => return None,
        Err(e) => {
            vlog!(
                Debug,
                "{tag}: cannot look for a stale table {fam} {table}: {e}"
            );
            return None;
        }
    }
    match nft::run_script(&path, &accept::remove_script(s.family, &table), NFT_TIMEOUT) {
        Ok(()) => Some(format!("{fam} {table}")),
        Err(e) => {
            vlog!(
                Warn,
                "{tag}: cannot remove packet filter table {fam} {table}: {e}"
            );
            None
        }
    }
}
