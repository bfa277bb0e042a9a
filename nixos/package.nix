# townhall built from this repository, with the unit files and sysusers entry from dist/
# (the module uses these very files through systemd.packages: one source for both).
# Use: pkgs.callPackage ./nixos/package.nix { }
{ lib, rustPlatform, pkg-config, systemd, acl }:

rustPlatform.buildRustPackage {
  pname = "townhall";
  version = (lib.importTOML ../Cargo.toml).workspace.package.version;
  src = lib.cleanSourceWith {
    src = ../.;
    filter = path: type: !(lib.hasInfix "/target" path);
  };
  cargoLock.lockFile = ../Cargo.lock;

  nativeBuildInputs = [ pkg-config ];
  # libudev (udev crate) and libacl (exacl); SQLite is bundled, TLS is rustls.
  buildInputs = [ systemd acl ];

  # The town tests boot systemd in a container as root: not in the Nix sandbox.
  # The binaries: townhall (root's), townhall-chat and townhall-gate (unprivileged).
  cargoBuildFlags = [ "--workspace" "--bins" ];
  cargoTestFlags = [ "--workspace" "--lib" "--bins" "--test" "config_corpus" ];

  postInstall = ''
    # The services name the binaries (townhall, townhall-chat, townhall-gate); the slices
    # name none.
    for u in dist/*.service; do
      install -Dm0644 "$u" "$out/lib/systemd/system/$(basename "$u")"
      substituteInPlace "$out/lib/systemd/system/$(basename "$u")" \
        --replace-fail /usr/local/bin/townhall "$out/bin/townhall"
    done
    for u in dist/*.slice; do
      install -Dm0644 "$u" "$out/lib/systemd/system/$(basename "$u")"
    done
    install -Dm0644 dist/townhall.sysusers "$out/lib/sysusers.d/townhall.conf"
  '';

  meta = {
    description = "AI agents as real Unix users on a real Linux machine, reset between rounds";
    license = with lib.licenses; [ mit asl20 ];
    platforms = lib.platforms.linux;
    mainProgram = "townhall";
  };
}
