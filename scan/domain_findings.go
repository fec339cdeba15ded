package scan

// The findings of Domain. Each is a FindingID like Run's, kept in the
// part of the DomainReport it is about: the domain, an MX host, an
// address. Severities decide the verdicts: high or critical fail, medium
// warns, low and info are noted (see Verdict).
//
//	ID                      Part     Severity       Reported when                                              Reference
//	domain-not-found        domain   high           the MX question answers NXDOMAIN                           RFC 5321 §5.1
//	mx-lookup-failed        domain   high           the MX question gets no answer (timeout, SERVFAIL)         RFC 5321 §5.1
//	dnssec-bogus            domain,  high           an MX, A or AAAA answer fails DNSSEC validation: a         RFC 4035 §5.5; RFC 7672 §2.1.1
//	                        host                    validating sender gets no answer at all
//	dnssec-insecure         domain   info           the MX answer is not validated: DANE cannot apply          RFC 7672 §2.2.1
//	null-mx                 domain   info           a null MX: the domain accepts no mail                      RFC 7505
//	null-mx-mixed           domain   medium         a null MX among other MX records, which RFC 7505 forbids:  RFC 7505 §3
//	                                                senders may bounce, or use the others (the scan does)
//	mx-implicit             domain   low            no MX records: the domain's own addresses are used         RFC 5321 §5.1
//	mx-cname                host     low            the MX host name is an alias                               RFC 5321 §5.1; RFC 2181 §10.3
//	mx-no-address           host     high           the MX host has no A or AAAA record                        RFC 5321 §5.1
//	mx-ip-address           host     high           the MX record names an IP address, not a host: senders     RFC 5321 §5.1
//	                                                look it up as a name and find no address
//	smtp-unreachable        address  high           no connection, no banner or no EHLO                        RFC 5321 §3.1
//	address-untested        address  info           an IPv6 address this host cannot reach                     -
//	tls-unavailable         address  high, medium   no STARTTLS, or it failed; high when DANE or an MTA-STS    RFC 3207; RFC 7672 §2.2;
//	                                                enforce policy applies (senders will not deliver)          RFC 8461 §5
//	dane-bogus              host     high           the TLSA answer fails DNSSEC validation                    RFC 7672 §2.2
//	dane-lookup-failed      host     high           the TLSA or an address question of a host behind a         RFC 7672 §2.2
//	                                                validated MX answer gets no answer
//	dane-tlsa-ignored       host     info           TLSA records exist but are not validated                   RFC 7672 §2.2
//	dane-mismatch           address  high           usable TLSA records, none matches the chain                RFC 7672 §2.2, §3
//	dane-no-usable          address  medium         TLSA records, none usable for SMTP (PKIX-TA/EE …)          RFC 7672 §3.1.3
//	dane-rollover           host     medium         no record would match the next key (a single "3 1 1")      RFC 7671 §8.1
//	dane-digest-agility     address  medium         only a record of a weaker digest matches: a sender that    RFC 7671 §8, §9;
//	                                                keeps the strongest of each usage and selector refuses     RFC 7672 §5
//	dane-partial            domain   medium         some MX hosts have validated TLSA records, others not      RFC 7672 §2.2.1
//	mta-sts-lookup-failed   domain   medium         the _mta-sts TXT question gets no answer                   RFC 8461 §3.1
//	mta-sts-record-invalid  domain   medium         the _mta-sts TXT record is invalid, or there are several   RFC 8461 §3.1
//	mta-sts-fetch-failed    domain   high           a valid record, but the policy cannot be fetched           RFC 8461 §3.3
//	                                                (HTTPS, WebPKI, status 200, text/plain, no redirect)
//	mta-sts-policy-invalid  domain   high           the policy does not parse                                  RFC 8461 §3.2
//	mta-sts-testing         domain   low            the policy is in testing mode: not enforced                RFC 8461 §5
//	mta-sts-mode-none       domain   low            the policy is in mode none: withdrawn                      RFC 8461 §5
//	mta-sts-max-age-short   domain   low            max_age under a day                                        RFC 8461 §3.2
//	mta-sts-mx-mismatch     host     high, medium   the policy's mx patterns do not permit the host            RFC 8461 §4.1
//	                                                (medium in testing mode)
//	mta-sts-cert-invalid    address  high, medium   the certificate does not verify for the host under WebPKI  RFC 8461 §4.2
//	                                                (medium in testing mode)
//	no-protection           domain   medium         neither DANE nor MTA-STS in enforce mode authenticates     RFC 7672 §1.3; RFC 8461 §1
//	                                                the MX hosts: an active attacker can strip TLS
//	tlsrpt-missing          domain   low            no TLS-RPT record                                          RFC 8460 §3
//	tlsrpt-invalid          domain   medium         an invalid TLS-RPT record, several, or no answer           RFC 8460 §3
//	requiretls-before-tls   address  low            REQUIRETLS offered before STARTTLS                         RFC 8689 §2
//	requiretls-unprotected  domain   low            REQUIRETLS offered, but some address cannot be             RFC 8689 §4.2.1
//	                                                authenticated as it asks (MX not DNSSEC-validated nor
//	                                                listed by MTA-STS; a certificate that does not name the
//	                                                host, or neither WebPKI-valid nor matched by DANE): a
//	                                                sender passes over it, or bounces if none is left
//
// A session's own findings (Run's: certificate verdicts under WebPKI,
// AUTH before TLS …) stay in AddressReport.Session; those above judge
// the domain by the policy it publishes.
const (
	FindingDomainNotFound        FindingID = "domain-not-found"
	FindingMXLookupFailed        FindingID = "mx-lookup-failed"
	FindingDNSSECBogus           FindingID = "dnssec-bogus"
	FindingDNSSECInsecure        FindingID = "dnssec-insecure"
	FindingNullMX                FindingID = "null-mx"
	FindingNullMXMixed           FindingID = "null-mx-mixed"
	FindingMXImplicit            FindingID = "mx-implicit"
	FindingMXCNAME               FindingID = "mx-cname"
	FindingMXNoAddress           FindingID = "mx-no-address"
	FindingMXIPAddress           FindingID = "mx-ip-address"
	FindingSMTPUnreachable       FindingID = "smtp-unreachable"
	FindingAddressUntested       FindingID = "address-untested"
	FindingTLSUnavailable        FindingID = "tls-unavailable"
	FindingDANEBogus             FindingID = "dane-bogus"
	FindingDANELookupFailed      FindingID = "dane-lookup-failed"
	FindingDANETLSAIgnored       FindingID = "dane-tlsa-ignored"
	FindingDANEMismatch          FindingID = "dane-mismatch"
	FindingDANENoUsable          FindingID = "dane-no-usable"
	FindingDANERollover          FindingID = "dane-rollover"
	FindingDANEDigestAgility     FindingID = "dane-digest-agility"
	FindingDANEPartial           FindingID = "dane-partial"
	FindingSTSLookupFailed       FindingID = "mta-sts-lookup-failed"
	FindingSTSRecordInvalid      FindingID = "mta-sts-record-invalid"
	FindingSTSFetchFailed        FindingID = "mta-sts-fetch-failed"
	FindingSTSPolicyInvalid      FindingID = "mta-sts-policy-invalid"
	FindingSTSTesting            FindingID = "mta-sts-testing"
	FindingSTSModeNone           FindingID = "mta-sts-mode-none"
	FindingSTSMaxAgeShort        FindingID = "mta-sts-max-age-short"
	FindingSTSMXMismatch         FindingID = "mta-sts-mx-mismatch"
	FindingSTSCertInvalid        FindingID = "mta-sts-cert-invalid"
	FindingNoProtection          FindingID = "no-protection"
	FindingTLSRPTMissing         FindingID = "tlsrpt-missing"
	FindingTLSRPTInvalid         FindingID = "tlsrpt-invalid"
	FindingRequireTLSBeforeTLS   FindingID = "requiretls-before-tls"
	FindingRequireTLSUnprotected FindingID = "requiretls-unprotected"
)
