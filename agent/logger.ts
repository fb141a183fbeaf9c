// Container output to CRI-format log files. containerd's shim runs a "binary" logger per task
// (`--log-uri binary:///path?file=<log>`) with the task's stdout on fd 3, stderr on fd 4 and a
// pipe on fd 5 to close once ready. The logger is a small Perl program (perl is on every Debian
// and most other hosts; measured at about 2.7 MB PSS, 7 MB RSS mostly shared with other perl
// processes, per container, against ~40 MB for a Node process) that timestamps each line:
//   2026-11-22T04:21:26.123456789Z stdout F hello
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Longest line written at once; longer output is split into partial (P) lines. */
export const MAX_LINE = 16 * 1024;

export const LOGGER_SCRIPT = `#!/usr/bin/perl
# kubeflare container logger: fd 3 stdout, fd 4 stderr -> CRI log lines in the file given.
# Ready comes first (the shim starts the task once fd 5 is closed; the pipes hold the output
# meanwhile), and the POSIX module is not loaded: it tripled the start-up every container start
# waits on.
BEGIN { for my $mode (">&=", "<&=") { if (open(my $ready, $mode, 5)) { close($ready); last } } }
use strict;
use warnings;
# Time::HiRes is not in perl-base; without it, timestamps have whole seconds.
my $hires = eval { require Time::HiRes; 1 };
my %arg = @ARGV;
my $file = $arg{file} or die "usage: logger file PATH\\n";
open(my $log, ">>", $file) or die "open $file: $!\\n";
binmode($log);
open(my $out, "<&=3") or die "fd 3: $!\\n";
open(my $err, "<&=4") or die "fd 4: $!\\n";
# Rotation as the kubelet's (containerLogMaxSize, containerLogMaxFiles): past max-size the file
# becomes <file>.<UTC time> and a new one starts; max-files counts the current one.
my $max = $arg{"max-size"} || 0;
my $keep = $arg{"max-files"} || 5;
my $size = -s $log || 0;
sub rotate {
  close($log);
  my @t = gmtime(time());
  my $to = sprintf("%s.%04d%02d%02d-%02d%02d%02d", $file, $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0]);
  my $n = 0;
  $n++ while -e ($n ? "$to.$n" : $to);
  rename($file, $n ? "$to.$n" : $to);
  open($log, ">>", $file) or die "open $file: $!\\n";
  binmode($log);
  $size = 0;
  my ($dir, $base) = $file =~ m{^(.*)/([^/]+)$} ? ($1, $2) : (".", $file);
  opendir(my $dh, $dir) or return;
  # Oldest first: by the time, then by the suffix a rotation in the same second got.
  my $key = sub { $_[0] =~ /\\.(\\d{8}-\\d{6})(?:\\.(\\d+))?$/ ? [$1, $2 // 0] : ["", 0] };
  my @old = sort { my ($x, $y) = ($key->($a), $key->($b)); $x->[0] cmp $y->[0] || $x->[1] <=> $y->[1] }
    grep { index($_, "$base.") == 0 } readdir($dh);
  closedir($dh);
  my $excess = @old - ($keep - 1);
  unlink(map { "$dir/$_" } @old[0 .. $excess - 1]) if $excess > 0;
}
my %name = (fileno($out) => "stdout", fileno($err) => "stderr");
my %buf = (fileno($out) => "", fileno($err) => "");
my %fh = (fileno($out) => $out, fileno($err) => $err);
sub stamp {
  my ($s, $us) = $hires ? Time::HiRes::gettimeofday() : (time(), 0);
  my @t = gmtime($s);
  return sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%06d000Z",
    $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0], $us);
}
sub emit {
  my ($fd, $final) = @_;
  my $t = stamp();
  my $o = "";
  while ((my $nl = index($buf{$fd}, "\\n")) >= 0) {
    my $line = substr($buf{$fd}, 0, $nl);
    substr($buf{$fd}, 0, $nl + 1) = "";
    while (length($line) > ${MAX_LINE}) {
      $o .= "$t $name{$fd} P " . substr($line, 0, ${MAX_LINE}) . "\\n";
      substr($line, 0, ${MAX_LINE}) = "";
    }
    $o .= "$t $name{$fd} F $line\\n";
  }
  while (length($buf{$fd}) > ${MAX_LINE}) {
    $o .= "$t $name{$fd} P " . substr($buf{$fd}, 0, ${MAX_LINE}) . "\\n";
    substr($buf{$fd}, 0, ${MAX_LINE}) = "";
  }
  if ($final && length($buf{$fd})) {
    $o .= "$t $name{$fd} F $buf{$fd}\\n";
    $buf{$fd} = "";
  }
  return unless length($o);
  syswrite($log, $o);
  $size += length($o);
  rotate() if $max && $size >= $max;
}
my $open = 2;
my $rin = "";
vec($rin, $_, 1) = 1 for keys %fh;
while ($open > 0) {
  my $n = select(my $rout = $rin, undef, undef, undef);
  next if $n < 0 && $!{EINTR};
  last if $n < 0;
  for my $fd (keys %fh) {
    next unless vec($rout, $fd, 1);
    my $r = sysread($fh{$fd}, my $chunk, 65536);
    next if !defined($r) && $!{EINTR};
    if (!$r) {
      emit($fd, 1);
      vec($rin, $fd, 1) = 0;
      delete $fh{$fd};
      $open--;
      next;
    }
    $buf{$fd} .= $chunk;
    emit($fd, 0);
  }
}
`;

/** Writes the logger into <dataDir>/bin and returns its path. */
export function installLogger(dataDir: string): string {
  const dir = join(dataDir, "bin");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "kubeflare-logger");
  writeFileSync(path, LOGGER_SCRIPT);
  chmodSync(path, 0o755);
  return path;
}

/** The kubelet's defaults for containerLogMaxSize and containerLogMaxFiles. */
export const LOG_MAX_BYTES = 10 * 1024 * 1024;
export const LOG_MAX_FILES = 5;

/** The `--log-uri` for one container run writing to `file`, rotated past `maxBytes`. */
export const logUri = (
  logger: string,
  file: string,
  maxBytes = LOG_MAX_BYTES,
  maxFiles = LOG_MAX_FILES,
) =>
  `binary://${logger}?file=${encodeURIComponent(file)}&max-size=${maxBytes}&max-files=${maxFiles}`;

/** <dataDir>/pods/<namespace>_<name>_<uid> */
export const podLogDir = (dataDir: string, pod: any) =>
  join(dataDir, "pods", `${pod.metadata.namespace}_${pod.metadata.name}_${pod.metadata.uid}`);

/** <pod log dir>/<container>/<restartCount>.log */
export const containerLogFile = (dataDir: string, pod: any, container: string, restart: number) =>
  join(podLogDir(dataDir, pod), container, `${restart}.log`);
