//! When a certificate is valid, and when to renew it: at two thirds of its
//! validity period, as Let's Encrypt advises (a 90-day certificate is
//! renewed 30 days before it expires, a 6-day one 2 days before), which
//! leaves a third of its life for retries when the CA is down.

use std::time::{Duration, SystemTime};

/// The period a certificate is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Validity {
    pub(crate) not_before: SystemTime,
    pub(crate) not_after: SystemTime,
}

impl Validity {
    /// The validity of the DER certificate `der`; `None` if it cannot be read.
    pub(crate) fn of(der: &[u8]) -> Option<Validity> {
        let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
        let validity = certificate.validity();
        let time = |seconds: i64| {
            u64::try_from(seconds)
                .ok()
                .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
        };
        Some(Validity {
            not_before: time(validity.not_before.timestamp())?,
            not_after: time(validity.not_after.timestamp())?,
        })
    }

    /// When to renew: two thirds into the period (at once for a period
    /// that ends before it begins).
    pub(crate) fn renew_at(&self) -> SystemTime {
        let period = self
            .not_after
            .duration_since(self.not_before)
            .unwrap_or_default();
        self.not_before + period.mul_f64(2.0 / 3.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_renewed_two_thirds_into_its_validity() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["example.org".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2026, 4, 1);
        let cert = params.self_signed(&key).unwrap();
        let validity = Validity::of(cert.der()).unwrap();
        let day = Duration::from_secs(86_400);
        assert_eq!(
            validity
                .not_after
                .duration_since(validity.not_before)
                .unwrap(),
            day * 90
        );
        assert_eq!(
            validity
                .renew_at()
                .duration_since(validity.not_before)
                .unwrap(),
            day * 60
        );
        assert_eq!(Validity::of(b"not a certificate"), None);
    }
}
