#!/bin/sh
# Generates throw-away demo certificates for the java-test programs:
#   ca.pem / ca.key          a self-signed CA
#   server.pem / server.key  a server certificate for localhost / 127.0.0.1
#   client.pem / client.key  a client certificate (TLS client auth)
# Both leaf certificates are signed by the CA. Keys are unencrypted PKCS#8 PEM
# ("BEGIN PRIVATE KEY"), which netty's SslContextBuilder accepts with
# forServer(File, File) / keyManager(File, File). EC P-256 keys: fast to make
# and fast to handshake with.
#
# Usage: demo-certs.sh OUTDIR      ($OPENSSL names the openssl command; default: openssl)
# Never commit the output: it is generated at build time into the build tree.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
out=$1
openssl=${OPENSSL:-openssl}
command -v "$openssl" >/dev/null 2>&1 || {
    echo "demo-certs.sh: error: the openssl command ($openssl) is not installed" >&2
    exit 1
}

mkdir -p "$out"
tmp=$(mktemp -d "$out/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
days=3650

newkey() {
    # PKCS#8, unencrypted.
    "$openssl" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -pkeyopt ec_param_enc:named_curve -out "$1" 2>/dev/null
}

# --- CA ----------------------------------------------------------------------
newkey "$tmp/ca.key"
cat >"$tmp/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = nraudit demo CA
O = nraudit
[v3_ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
"$openssl" req -new -x509 -key "$tmp/ca.key" -config "$tmp/ca.cnf" \
    -days "$days" -sha256 -set_serial 1 -out "$tmp/ca.pem"

# --- leaves ------------------------------------------------------------------
leaf() { # name CN extendedKeyUsage subjectAltName serial
    name=$1 cn=$2 eku=$3 san=$4 serial=$5
    newkey "$tmp/$name.key"
    cat >"$tmp/$name.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = $cn
O = nraudit
[ext]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = $eku
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
$san
EOF
    "$openssl" req -new -key "$tmp/$name.key" -config "$tmp/$name.cnf" \
        -out "$tmp/$name.csr"
    "$openssl" x509 -req -in "$tmp/$name.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
        -set_serial "$serial" -days "$days" -sha256 \
        -extfile "$tmp/$name.cnf" -extensions ext -out "$tmp/$name.pem" 2>/dev/null
}
leaf server localhost serverAuth "subjectAltName = DNS:localhost, IP:127.0.0.1" 2
leaf client "nraudit demo client" clientAuth "" 3

"$openssl" verify -CAfile "$tmp/ca.pem" "$tmp/server.pem" "$tmp/client.pem" >/dev/null

chmod 600 "$tmp"/*.key
for f in ca.key ca.pem server.key server.pem client.key client.pem; do
    mv -f "$tmp/$f" "$out/$f"
done
