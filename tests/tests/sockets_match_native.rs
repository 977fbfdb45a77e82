//! Guest sockets behave as on the host kernel: static C programs of
//! `tests/guest/net/` print the same `ok`/`FAIL` lines under oxbox as
//! natively. Under oxbox every socket is a host socket in the container's
//! network namespace (loopback only), reached through the kernel's checks
//! (addresses and control messages copied in, passed descriptors checked,
//! credentials in the container's ids); natively the program runs in its
//! own network namespace with loopback up, like the container.

use oxbox_integration::{Compare, Run, guest_matches_native, require_root};

#[test]
fn socketpair_stream_dgram_seqpacket_peek_shutdown_and_sigpipe() {
    require_root!();
    guest_matches_native(Run::guest("net/socketpair"));
}

#[test]
fn unix_sockets_by_path_and_abstract_name_pass_descriptors_and_credentials() {
    require_root!();
    guest_matches_native(Run::guest("net/unix"));
}

#[test]
fn tcp_and_udp_over_loopback_with_a_forked_client() {
    require_root!();
    guest_matches_native(Run::guest("net/tcp"));
}

#[test]
fn socket_calls_with_bad_arguments_fail_like_linux() {
    require_root!();
    guest_matches_native(Run::guest("net/errors"));
}

#[test]
fn interfaces_through_route_netlink_and_ioctls() {
    require_root!();
    guest_matches_native(Run::guest("net/netlink"));
}

/// busybox's network applets: `ifconfig` (interface ioctls and the
/// kernel's `/proc/net/dev` and `/proc/net/if_inet6`), `httpd` serving
/// files to `wget` (a client that closes its sending side at once, as `nc`
/// does, may lose the answer natively too), `nc` listening and connecting,
/// and `ip`.
#[test]
fn busybox_httpd_wget_and_nc() {
    require_root!();
    let mut run = Run::new(["sh", "-c", BUSYBOX_NET_SCRIPT]);
    let dir = run.scratch("busybox-net");
    let run = run.env("D", &dir);
    let (native, _) = run.matches_native(Compare::StdoutAndStatus);
    assert_eq!(
        native.stdout(),
        "lo        Link encap:Local Loopback  \n          \
         inet addr:127.0.0.1  Mask:255.0.0.0\n          \
         inet6 addr: ::1/128 Scope:Host\n          \
         UP LOOPBACK RUNNING  MTU:65536  Metric:1\n          \
         RX packets:0 errors:0 dropped:0 overruns:0 frame:0\n          \
         TX packets:0 errors:0 dropped:0 overruns:0 carrier:0\n          \
         collisions:0 txqueuelen:1000 \n          \
         RX bytes:0 (0.0 B)  TX bytes:0 (0.0 B)\n\n\
         00000000000000000000000000000001 01 80 10 80       lo\n\
         Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets \
         errs drop fifo colls carrier compressed\n    \
         lo:       0       0    0    0    0     0          0         0        0       0    0    \
         0    0     0       0          0\n\
         hello from httpd\nwget missing: 1\nHTTP/1.1 200 OK\nnc got: over nc\n\
         1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue qlen 1000\n",
        "{}",
        native.describe()
    );
}

/// The nc client reads its message from a file, not from `echo |`: busybox
/// nc exits as soon as its socket reads end of file, and the listener (its
/// stdin is /dev/null, as for any background job) half-closes at once, so
/// a client whose `echo` had not yet written when the listener's FIN came
/// sent nothing (seen under oxbox, where the forked `echo` starts later).
/// A file is readable at the client's first poll, and stdin comes first.
const BUSYBOX_NET_SCRIPT: &str = r#"cd "$D"
ifconfig lo
cat /proc/net/if_inet6
cat /proc/self/net/dev
mkdir www
echo 'hello from httpd' > www/index.html
httpd -f -p 127.0.0.1:8125 -h "$D/www" &
httpd=$!
for i in $(seq 1 300); do wget -q -O /dev/null http://127.0.0.1:8125/ 2>/dev/null && break; sleep 0.1; done
wget -q -O - http://127.0.0.1:8125/index.html
wget -q -O - http://127.0.0.1:8125/missing 2>/dev/null; echo "wget missing: $?"
wget -S -O /dev/null http://127.0.0.1:8125/ 2>&1 | grep -m 1 HTTP/ | sed 's/^ *//' | tr -d '\r'
kill $httpd; wait $httpd
echo 'over nc' > msg
nc -l -p 8126 > got &
listener=$!
for i in $(seq 1 300); do nc 127.0.0.1 8126 < msg 2>/dev/null && break; sleep 0.1; done
wait $listener
echo "nc got: $(cat got)"
ip link show lo | head -n 1"#;
