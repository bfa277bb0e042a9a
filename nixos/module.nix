# NixOS module: declares the town in Nix and runs townhall as a service.
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
    package = lib.mkOption { type = lib.types.package; description = "The townhall package."; };
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

    users.groups = lib.mapAttrs (name: r: { gid = r.uid; }) cfg.residents // { townhall-git = { }; };
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
    };

    # What a levelled town needs from its host (`townhall check --host`).
    boot.kernel.sysctl = {
      "fs.protected_symlinks" = 1;
      "fs.protected_hardlinks" = 1;
      "fs.protected_regular" = 2;
      "fs.protected_fifos" = 2;
    };
    # /proc with hidepid=invisible is left to the host: polkit and some desktop services
    # break without a gid= exemption (`townhall check --host` reports it).

    # Every boot starts a new round: before logind (which starts lingering residents'
    # managers) and user sessions; at shutdown, no resident's process holds the reboot up.
    systemd.services.townhall-reset = {
      description = "townhall: end the round (level /agents to the blank snapshot)";
      unitConfig.DefaultDependencies = false;
      after = [ "local-fs.target" "systemd-tmpfiles-setup.service" ];
      before = [ "systemd-logind.service" "systemd-user-sessions.service" "townhall.service" "shutdown.target" ];
      conflicts = [ "shutdown.target" ];
      wantedBy = [ "multi-user.target" "townhall.service" ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${cfg.package}/bin/townhall reset --by boot --config /etc/townhall";
        ExecStop = "${cfg.package}/bin/townhall level --config /etc/townhall";
      };
    };

    systemd.services.townhall = {
      description = "townhall: AI agents as real Unix users";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" "systemd-logind.service" "dbus.service" ];
      wants = [ "network-online.target" ];
      restartTriggers = [ configDir ];
      serviceConfig = {
        Type = "notify";
        ExecStart = "${cfg.package}/bin/townhall serve --config /etc/townhall";
        Restart = "on-failure";
        RestartSec = 2;
        TimeoutStopSec = 30;
        RuntimeDirectory = "townhall";
        RuntimeDirectoryMode = "0700";
        StateDirectory = "townhall";
        StateDirectoryMode = "0700";
        UMask = "0077";
      };
    };
  };
}
