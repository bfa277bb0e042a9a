# NixOS module: declares the town in Nix and runs townhall from the unit files the package
# ships (dist/, through systemd.packages); only what NixOS does differently is set here.
# Users are declared here (accounts = "verify"), because NixOS with mutableUsers = false
# rewrites /etc/passwd at activation and would drop users created at run time.
{ config, lib, pkgs, ... }:

let
  cfg = config.services.townhall;
  toml = pkgs.formats.toml { };
  townFile = toml.generate "town.toml" (cfg.town // { accounts = "verify"; });
  residentFiles = lib.mapAttrs (name: r: toml.generate "${name}.toml" (r // { inherit name; })) cfg.residents;
  configDir = pkgs.runCommand "townhall-config" { } ''
    mkdir -p $out/residents
    cp ${townFile} $out/town.toml
    ${lib.concatStrings (lib.mapAttrsToList (n: f: "cp ${f} $out/residents/${n}.toml\n") residentFiles)}
    ${cfg.package}/bin/townhall check --config $out
  '';
in
{
  options.services.townhall = {
    enable = lib.mkEnableOption "townhall, AI agents as Unix users";
    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ./package.nix { };
      description = "The townhall package (built from this repository by default).";
    };
    town = lib.mkOption {
      type = toml.type;
      description = "Contents of town.toml (see docs/config.md); accounts is forced to verify.";
    };
    residents = lib.mkOption {
      type = lib.types.attrsOf toml.type;
      default = { };
      description = "One residents/NAME.toml per attribute (see docs/config.md).";
    };
  };

  config = lib.mkIf cfg.enable {
    environment.etc."townhall".source = configDir;
    environment.systemPackages = [ cfg.package ];

    users.groups = lib.mapAttrs (name: r: { gid = r.uid; }) cfg.residents // { townhall-git = { }; townhall-chat = { }; townhall-gate = { }; };
    users.users = lib.mapAttrs (name: r: {
      isNormalUser = true;
      uid = r.uid;
      group = name;
      home = "${cfg.town.agents or "/agents"}/${name}";
      createHome = false;
      description = r.description;
    }) cfg.residents // {
      # Owns the town remote's repositories (never a resident, never root).
      townhall-git = {
        isSystemUser = true;
        group = "townhall-git";
        home = "/nonexistent";
        createHome = false;
      };
      # Runs `townhall-chat`: every Matrix connection, none of root's powers (dist/townhall.sysusers).
      townhall-chat = {
        isSystemUser = true;
        group = "townhall-chat";
        home = "/var/lib/townhall-chat";
        createHome = false;
      };
      # Runs `townhall-gate`: holds the model APIs' keys as its unit's credentials.
      townhall-gate = {
        isSystemUser = true;
        group = "townhall-gate";
        home = "/nonexistent";
        createHome = false;
      };
    };

    # The units are the package's (dist/); NixOS ignores their [Install] sections, so what
    # pulls them in is said here, and a changed config restarts the supervisor.
    systemd.packages = [ cfg.package ];
    systemd.services.townhall-reset.wantedBy = [ "multi-user.target" "townhall.service" ];
    systemd.services.townhall = {
      wantedBy = [ "multi-user.target" ];
      restartTriggers = [ configDir ];
      # `nft` loads the egress table (src/egress): residents reach only the gate.
      path = [ pkgs.nftables ];
    };
    systemd.services.townhall-chat = {
      wantedBy = [ "multi-user.target" ];
      restartTriggers = [ configDir ];
    };
    systemd.services.townhall-gate = {
      wantedBy = [ "multi-user.target" ];
      restartTriggers = [ configDir ];
    };

    # What a levelled town needs from its host (`townhall check --host`).
    boot.kernel.sysctl = {
      "fs.protected_symlinks" = 1;
      "fs.protected_hardlinks" = 1;
      "fs.protected_regular" = 2;
      "fs.protected_fifos" = 2;
    };
    # One journal, the system's: a resident reads no journal file, so no line it logs in
    # one round is there for it in the next (dist/townhall-journald.conf elsewhere).
    services.journald.extraConfig = "SplitMode=none";
    # /proc with hidepid=invisible is left to the host: polkit and some desktop services
    # break without a gid= exemption (`townhall check --host` reports it).
  };
}
