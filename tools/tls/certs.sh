#!/bin/sh
# tools/tls/certs.sh DIR: the certificates the TLS specs, examples and
# benchmarks use, made fresh into DIR (EC P-256, SHA-256) with openssl:
#   ca.pem ca.key           the test CA
#   server.pem server.key   leaf for localhost, 127.0.0.1, ::1 (signed by ca)
#   chain.pem               server.pem + ca.pem
#   b.pem b.key             leaf for b.test and c.test (SNI)
#   client.pem client.key   a client certificate (clientAuth)
#   wronghost.pem .key      leaf for example.org only
#   expired.pem .key        leaf for localhost, valid in January 2020 only
#   self.pem self.key       a self-signed leaf for localhost
#   other-ca.pem, unknown.pem .key   another CA and a localhost leaf it signed
#   enc.key                 server.key encrypted with the password 'secret'
#   rsa.pem rsa.key         an RSA-2048 leaf for localhost
set -e
D=${1:?usage: certs.sh DIR}
mkdir -p "$D"
cd "$D"
O=${OPENSSL:-openssl}
ec() { $O genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

cat > ext.cnf <<'X'
[ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
[b]
basicConstraints = CA:false
extendedKeyUsage = serverAuth
subjectAltName = DNS:b.test, DNS:c.test
[client]
basicConstraints = CA:false
extendedKeyUsage = clientAuth
subjectAltName = DNS:client.test
[wronghost]
basicConstraints = CA:false
extendedKeyUsage = serverAuth
subjectAltName = DNS:example.org
X

ca() { # NAME SUBJECT
  ec "$1.key"
  $O req -new -x509 -key "$1.key" -subj "/CN=$2" -days 30 -sha256 -extensions ca -config ext.cnf \
    -out "$1.pem" 2>/dev/null
}
leaf() { # NAME CN SECTION [CA]
  ec "$1.key"
  $O req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
  $O x509 -req -in "$1.csr" -CA "${4:-ca}.pem" -CAkey "${4:-ca}.key" -CAcreateserial -days 30 -sha256 \
    -extfile ext.cnf -extensions "$3" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr"
}

ca ca 'socket2 test CA'
leaf server localhost server
cat server.pem ca.pem > chain.pem
leaf b b.test b
leaf client 'socket2 test client' client
leaf wronghost example.org wronghost
ca other-ca 'another CA'
leaf unknown localhost server other-ca
# self-signed: its own issuer
ec self.key
$O req -new -x509 -key self.key -subj /CN=localhost -days 30 -sha256 -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
  -out self.pem 2>/dev/null
# expired: `openssl ca` takes explicit dates
ec expired.key
$O req -new -key expired.key -subj /CN=localhost -out expired.csr 2>/dev/null
mkdir -p ca.db; : > ca.db/index.txt; echo 01 > ca.db/serial
cat > ca.cnf <<'X'
[ca]
default_ca = test
[test]
database = ca.db/index.txt
serial = ca.db/serial
new_certs_dir = ca.db
default_md = sha256
policy = any
copy_extensions = none
x509_extensions = server
[any]
commonName = supplied
[server]
basicConstraints = CA:false
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
X
$O ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
  -startdate 20200101000000Z -enddate 20200201000000Z -notext >/dev/null 2>&1
rm -f expired.csr
$O pkey -in server.key -aes256 -passout pass:secret -out enc.key 2>/dev/null
$O genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key 2>/dev/null
$O req -new -key rsa.key -subj /CN=localhost -out rsa.csr 2>/dev/null
$O x509 -req -in rsa.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -sha256 -extfile ext.cnf \
  -extensions server -out rsa.pem 2>/dev/null
rm -f rsa.csr
for f in ca server b client wronghost unknown self expired rsa; do test -s "$f.pem"; done
test -s enc.key
