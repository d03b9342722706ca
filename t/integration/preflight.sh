#!/bin/sh
# exfeedctl preflight: before a first start, every reason the start would
# fail, each with its fix; exit 0 only when none is left.  As root it checks
# as the daemon will run after its privilege drop ([daemon] user, the
# database as that user).  And the daemon's log = syslog with no syslog
# daemon listening is never silent: it logs to a file and says where.
. "$top_srcdir/t/lib.sh"

PGTMP="$top_srcdir/tools/pgtmp"
pf() { "$EXFEEDCTL" -c "$T/pf.conf" preflight > "$T/pf.out" 2>&1; echo $? > "$T/pf.rc"; cat "$T/pf.out" | sed 's/^/# /'; }
has() { grep -q -- "$1" "$T/pf.out"; }
rc() { cat "$T/pf.rc"; }

if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	RUNAS=nobody; RUNAS_GROUP=$(id -gn nobody)
else
	RUNAS=$(id -un); RUNAS_GROUP=$(id -gn)
fi
conninfo=$(PGTMP_FAST=1 "$PGTMP" start "$T/pg") || { not_ok "no PostgreSQL cluster"; finish; }
write_key "$T/pf.key"
# The log's directory is the daemon's own, as preflight recommends.
mkdir -p "$T/logs" "$T/rootlogs"
[ "$(id -u)" -eq 0 ] && chown "$RUNAS" "$T/logs"
pf_conf() {	# pf_conf USER KEYFILE LOG HOST
	cat > "$T/pf.conf" <<EOC
[daemon]
user = $1
group = $RUNAS_GROUP
runtime_dir = $T/run
pidfile = $T/run/exfeedd.pid
control_socket = $T/run/control.sock
log = $3
[database]
conninfo = $conninfo
[crypto]
key_file = $2
[exchange.binance-futures]
rest_url = http://$4:1
ws_url = ws://127.0.0.1:1
EOC
	if [ -n "${5:-}" ]; then printf '[gateway]\njwt_secret_file = %s\n' "$5" >> "$T/pf.conf"; fi
}

# Everything wrong at once.
pf_conf no-such-exfeedd-user "$T/none.key" syslog no-such-host.invalid
pf
check "all wrong: exit 1" [ "$(rc)" -eq 1 ]
check "a missing key file, with its fix" has "FAIL  \[crypto\] key_file $T/none.key: cannot open"
check "... fix: exfeedctl keygen" has "fix: exfeedctl keygen $T/none.key"
check "an exchange host that does not resolve" has "FAIL  \[exchange.binance-futures\] rest_url http://no-such-host.invalid:1: cannot resolve no-such-host.invalid"
check "... the other URL resolves" has "ok    \[exchange.binance-futures\] ws_url"
if [ -S /dev/log ]; then
	echo "# /dev/log exists here: the silent-syslog case is not exercised"
else
	check "log = syslog with nobody listening on /dev/log: a warning" has "warn  \[daemon\] log = syslog: nothing listens on /dev/log: the daemon will log to $T/run/exfeedd.log instead"
fi
check "the closing line says the start would fail" has "^preflight: the start would fail"
if [ "$(id -u)" -eq 0 ]; then
	check "as root: a missing user, with useradd" has "FAIL  \[daemon\] user no-such-exfeedd-user: no such user"
	check "... fix: useradd --system" has "fix: useradd --system --user-group"
fi

# The database as the daemon's user: not migrated, then migrated.
pf_conf "$RUNAS" "$T/pf.key" "$T/logs/pf.log" 127.0.0.1
[ "$(id -u)" -eq 0 ] && chown "$RUNAS" "$T/pf.key"
pf
check "not migrated: the database line fails" has "FAIL  \[database\] conninfo, as"
check "... fix: exfeedctl db migrate" has "fix: exfeedctl db migrate"
"$EXFEEDCTL" -c "$T/pf.conf" db migrate > /dev/null 2>&1
pf
check "all well: exit 0" [ "$(rc)" -eq 0 ]
check "all well: the closing line says so" has "^preflight: nothing stands in the way of a start"
check "all well: no FAIL line" sh -c "! grep -q '^FAIL' '$T/pf.out'"
check "no jwt_secret_file: a note that /ws/trading refuses every token" has "^note  \[gateway\] jwt_secret_file is not set: /ws/trading refuses every token"

# The gateway's JWT secret, as the gateway will read it (a bad one stops the start).
head -c 40 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$T/jwt.secret"
chmod 644 "$T/jwt.secret"
[ "$(id -u)" -eq 0 ] && chown "$RUNAS" "$T/jwt.secret"
pf_conf "$RUNAS" "$T/pf.key" "$T/logs/pf.log" 127.0.0.1 "$T/jwt.secret"
pf
check "a jwt secret readable by others: the start would fail" [ "$(rc)" -eq 1 ]
check "... its line says why" has "FAIL  \[gateway\] jwt_secret_file $T/jwt.secret: $T/jwt.secret is readable or writable by group or others (mode 0644)"
check "... fix: chmod 600" has "fix: chmod 600 $T/jwt.secret"
chmod 600 "$T/jwt.secret"
pf
check "a good jwt secret: exit 0" [ "$(rc)" -eq 0 ]
check "... an ok line" has "^ok    \[gateway\] jwt_secret_file $T/jwt.secret$"
if [ "$(id -u)" -eq 0 ] && [ "$RUNAS" != root ]; then
	chown root "$T/jwt.secret"
	pf
	check "as root: a jwt secret not owned by $RUNAS fails" has "FAIL  \[gateway\] jwt_secret_file $T/jwt.secret: owned by uid 0, not by $RUNAS"
	check "... fix: chown $RUNAS" has "fix: chown $RUNAS $T/jwt.secret"
	chown "$RUNAS" "$T/jwt.secret"
fi
head -c 10 /dev/urandom > "$T/jwt.short"; chmod 600 "$T/jwt.short"
[ "$(id -u)" -eq 0 ] && chown "$RUNAS" "$T/jwt.short"
pf_conf "$RUNAS" "$T/pf.key" "$T/logs/pf.log" 127.0.0.1 "$T/jwt.short"
pf
check "a 10-byte jwt secret fails" has "FAIL  \[gateway\] jwt_secret_file $T/jwt.short:"
check "... fix: the platform's secret, 32 to 4096 bytes" has "fix: put the secret your platform signs its tokens with in $T/jwt.short (32 to 4096 bytes"
pf_conf "$RUNAS" "$T/pf.key" "$T/logs/pf.log" 127.0.0.1 "$T/no.secret"
pf
check "a missing jwt secret fails, with how to make one" has "FAIL  \[gateway\] jwt_secret_file $T/no.secret: cannot open"
check "... fix: how to make one" has "a new one: head -c 48 /dev/urandom | base64 > $T/no.secret"
pf_conf "$RUNAS" "$T/pf.key" "$T/logs/pf.log" 127.0.0.1
if [ ! -S /dev/log ]; then
	# Only syslog unheard: the start goes ahead (logging to a file), so exit 0.
	pf_conf "$RUNAS" "$T/pf.key" syslog 127.0.0.1
	pf
	check "syslog unheard alone: exit 0" [ "$(rc)" -eq 0 ]
	check "... the closing line points at the warning" has "^preflight: nothing stands in the way of a start; see the warn line above"
	pf_conf "$RUNAS" "$T/pf.key" "$T/logs/pf.log" 127.0.0.1
fi

# Each fix fits what the database said, with the role and database of the
# conninfo: no server; a role missing; only the database missing (createuser
# would stop at "role already exists"); peer authentication refusing a role
# that is not the operating-system user.
conninfo_ok=$conninfo
dbline() { grep -A1 '^FAIL  \[database\]' "$T/pf.out"; }
dbfix_has() { dbline | grep -q -- "$1"; }
dbfix_lacks() { ! dbline | grep -q -- "$1"; }
conninfo=$(echo "$conninfo_ok" | sed 's/user=exfeedd/user=pfrole/')
pf_conf "$RUNAS" "$T/pf.key" "$T/logs/pf.log" 127.0.0.1
pf
check "role missing: the fix is createuser with the conninfo's role" dbfix_has "createuser pfrole"
check "... createdb names the conninfo's database" dbfix_has "createdb -O pfrole exfeedd"
check "... then db migrate" dbfix_has "exfeedctl db migrate"
check "... and points at the section that has createuser" dbfix_has 'README, "Install and first start, step by step"'
check "... not at \"Database and accounts\"" dbfix_lacks "Database and accounts"
conninfo=$(echo "$conninfo_ok" | sed 's/dbname=exfeedd/dbname=pfdb/')
pf_conf "$RUNAS" "$T/pf.key" "$T/logs/pf.log" 127.0.0.1
pf
check "database missing: the fix is createdb -O ROLE DB" dbfix_has "createdb -O exfeedd pfdb"
check "... and no createuser (the role exists)" dbfix_lacks "createuser"
check "... then db migrate" dbfix_has "exfeedctl db migrate"
conninfo=$conninfo_ok
pf_conf "$RUNAS" "$T/pf.key" "$T/logs/pf.log" 127.0.0.1
"$PGTMP" down "$T/pg" > /dev/null 2>&1
pf
check "server stopped: the database line fails" has "FAIL  \[database\] conninfo"
check "... the fix says the server is not running, and how to start it" dbfix_has "PostgreSQL is not running.*pg_ctlcluster 15 main start.*systemctl start postgresql"
check "... and says nothing of creating a role or a database" dbfix_lacks "create"
"$PGTMP" up "$T/pg" > /dev/null 2>&1
if [ "$RUNAS" != exfeedd ]; then
	cp "$T/pg/data/pg_hba.conf" "$T/hba.orig"
	sed -i 's/^local .*all .*all .*trust$/local all all peer/' "$T/pg/data/pg_hba.conf"
	kill -HUP "$(head -n 1 "$T/pg/data/postmaster.pid")"
	sleep 0.5
	pf
	check "peer authentication refusing the conninfo's role: said so" dbfix_has "peer authentication: the database role must be the operating-system user"
	check "... no createuser of the conninfo's role" dbfix_lacks "createuser exfeedd"
	cp "$T/hba.orig" "$T/pg/data/pg_hba.conf"
	kill -HUP "$(head -n 1 "$T/pg/data/postmaster.pid")"
	sleep 0.5
fi

# A key file of the wrong size is not a matter of its mode.
head -c 31 "$T/pf.key" > "$T/short.key"; chmod 600 "$T/short.key"
[ "$(id -u)" -eq 0 ] && chown "$RUNAS" "$T/short.key"
pf_conf "$RUNAS" "$T/short.key" "$T/logs/pf.log" 127.0.0.1
pf
check "a 31-byte key: the fix says it is not the key" has "fix: $T/short.key holds 31 bytes, a key is 32"
check "... not chmod 600" sh -c "! grep -q 'fix: chmod 600' '$T/pf.out'"
# A missing key while the database holds accounts: restore it, never keygen.
pf_conf "$RUNAS" "$T/pf.key" "$T/logs/pf.log" 127.0.0.1
printf 'k1\ns1\n' | "$EXFEEDCTL" -c "$T/pf.conf" account add --user 1 --exchange binance-futures \
    --api-key-file - --api-secret-file - > /dev/null 2>&1
pf_conf "$RUNAS" "$T/lost.key" "$T/logs/pf.log" 127.0.0.1
pf
check "a lost key with accounts stored: restore it from the backup" has "fix: the database holds 1 account whose credentials only the lost key opens: restore $T/lost.key from your backup"
check "... never keygen" sh -c "! grep -q 'fix: exfeedctl keygen' '$T/pf.out'"
pf_conf "$RUNAS" "$T/pf.key" "$T/logs/pf.log" 127.0.0.1

# As root: user = root drops nothing; a file the user cannot read breaks reload.
if [ "$(id -u)" -eq 0 ] && [ "$RUNAS" != root ]; then
	pf_conf root "$T/pf.key" "$T/logs/pf.log" 127.0.0.1
	pf
	check "user = root: a warning that every process runs as root" has "warn  \[daemon\] user root: every process.*would run as root"
	pf_conf "$RUNAS" "$T/pf.key" "$T/logs/pf.log" 127.0.0.1
	chmod 600 "$T/pf.conf"
	pf
	check "a configuration file $RUNAS cannot read: a warning (reload would fail)" has "warn  configuration $T/pf.conf: $RUNAS cannot read it (Permission denied): the start reads it as root, but a reload"
	check "... fix: chgrp and chmod 640" has "fix: chgrp $RUNAS_GROUP $T/pf.conf && chmod 640 $T/pf.conf"
	check "... a warning only: exit 0" [ "$(rc)" -eq 0 ]
	chgrp "$RUNAS_GROUP" "$T/pf.conf"; chmod 640 "$T/pf.conf"
	pf
	check "... readable by its group: no warning" sh -c "! grep -q '^warn  configuration' '$T/pf.out'"
fi

# A log file in a directory the daemon's user cannot write (as /var/log):
# the start works, but after rotation no process can make the file anew.
if [ "$(id -u)" -eq 0 ]; then
	pf_conf "$RUNAS" "$T/pf.key" "$T/rootlogs/exfeedd.log" 127.0.0.1
	pf
	check "as root, a log directory $RUNAS cannot write: a warning" has "warn  \[daemon\] log = $T/rootlogs/exfeedd.log: $RUNAS cannot create files in $T/rootlogs"
	check "... fix: a directory of its own" has "fix: give the log a directory of its own that $RUNAS owns: install -d -o $RUNAS -g adm -m 2750 /var/log/exfeedd and log = /var/log/exfeedd/exfeedd.log"
	pf_conf "$RUNAS" "$T/pf.key" "$T/logs/pf.log" 127.0.0.1
	pf
	check "... in the user's own directory: ok" has "ok    \[daemon\] log = $T/logs/pf.log"
fi
if [ ! -S /dev/log ]; then
	pf_conf "$RUNAS" "$T/pf.key" syslog 127.0.0.1
	pf
	check "syslog unheard: the suggested file is in a directory of its own" has "log = /var/log/exfeedd/exfeedd.log, with install -d -o $RUNAS -g adm -m 2750 /var/log/exfeedd"
	pf_conf "$RUNAS" "$T/pf.key" "$T/logs/pf.log" 127.0.0.1
fi

if [ "$(id -u)" -eq 0 ]; then
	# The key readable by root only: the workers, as the user, could not read it.
	chown root "$T/pf.key"
	pf
	check "as root: a key the user cannot read" has "FAIL  \[crypto\] key_file $T/pf.key: $T/pf.key is owned by uid 0, but the workers run as $RUNAS"
	check "... fix: chown" has "fix: chown $RUNAS $T/pf.key"
	chown "$RUNAS" "$T/pf.key"

	# runtime_dir naming somebody else's directory (a typo: /opt, /etc):
	# the start would refuse to take it over; preflight says so first.
	mkdir -p "$T/elsewhere" && echo x > "$T/elsewhere/not-ours" && chown -R 4242 "$T/elsewhere"
	sed -i "s|^runtime_dir = .*|runtime_dir = $T/elsewhere|" "$T/pf.conf"
	pf
	check "as root: someone else's directory as runtime_dir" has "FAIL  \[daemon\] runtime_dir $T/elsewhere: $T/elsewhere ($T/elsewhere) belongs to uid 4242 and it holds files that are not exfeedd's"
	check "... and the daemon refuses it too (78, FILE:LINE)" sh -c \
		"'$EXFEEDD' -f -c '$T/pf.conf' 2>'$T/rd.out'; [ \$? -eq 78 ] && grep -q '^$T/pf.conf:[0-9]*: \[daemon\] runtime_dir: $T/elsewhere' '$T/rd.out'"
	check "... leaving it as it was" [ "$(stat -c %u "$T/elsewhere")" -eq 4242 ]
	sed -i "s|^runtime_dir = .*|runtime_dir = $T/run|" "$T/pf.conf"
fi
chmod 644 "$T/pf.key"
pf
check "a key readable by others: chmod 600" has "fix: chmod 600 $T/pf.key"
chmod 600 "$T/pf.key"

# The daemon itself with log = syslog and no syslog daemon: never silent.
if [ ! -S /dev/log ]; then
	LOG_TARGET=syslog write_config "$T/exfeedd.conf"
	"$EXFEEDD" -c "$T/exfeedd.conf" > "$T/start.out" 2>&1
	wait_until 2 test -s "$T/run/exfeedd.pid"
	DAEMON_PID=$(cat "$T/run/exfeedd.pid" 2>/dev/null)
	check "syslog unheard: the start says where the log goes" \
		grep -q "no syslog daemon listens on /dev/log: logging to $T/run/exfeedd.log instead" "$T/start.out"
	check "syslog unheard: the workers' lines are in that file" \
		wait_until 3 grep -q "writer 0: info: ready" "$T/run/exfeedd.log"
	kill -TERM "$DAEMON_PID"
	gone_now() { ! kill -0 "$DAEMON_PID" 2>/dev/null; }
	check "syslog unheard: stops cleanly" wait_until 5 gone_now
	DAEMON_PID=
fi
"$PGTMP" stop "$T/pg" > /dev/null 2>&1
finish
