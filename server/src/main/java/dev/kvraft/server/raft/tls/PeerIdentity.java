package dev.kvraft.server.raft.tls;

import java.security.cert.Certificate;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/** The names a peer's (already CA-verified) certificate carries: its SAN DNS names and its CN. */
public final class PeerIdentity {
  private static final int SAN_DNS = 2;

  private PeerIdentity() {}

  public static Set<String> names(SSLSession session) {
    try {
      Certificate[] chain = session.getPeerCertificates();
      return chain.length > 0 && chain[0] instanceof X509Certificate x ? names(x) : Set.of();
    } catch (SSLPeerUnverifiedException e) {
      return Set.of();
    }
  }

  public static Set<String> names(X509Certificate cert) {
    var names = new LinkedHashSet<String>();
    try {
      var sans = cert.getSubjectAlternativeNames();
      if (sans != null) {
        for (List<?> san : sans) {
          if (san.size() >= 2 && Integer.valueOf(SAN_DNS).equals(san.get(0)) && san.get(1) instanceof String s) {
            names.add(s);
          }
        }
      }
    } catch (CertificateParsingException ignored) {
      // no usable SAN: the CN below is all there is
    }
    try {
      for (var rdn : new LdapName(cert.getSubjectX500Principal().getName()).getRdns()) {
        if (rdn.getType().equalsIgnoreCase("CN")) {
          names.add(rdn.getValue().toString());
        }
      }
    } catch (InvalidNameException ignored) {
      // unparsable subject: no CN
    }
    return Set.copyOf(names);
  }
}
