# The Debian package (cpack -G DEB, or scripts/package.sh from the release preset): the binary,
# a hardened systemd unit, the default settings as a conffile, a `callproxy` system user and
# its state directory, the secrets' environment file, callproxy(1), the copyright file and the
# changelog. Dependencies are computed from the binary (dpkg-shlibdeps); the libraries it opens
# at run time for client-test and local-speaker are Recommends.

set(deploy_dir ${CMAKE_CURRENT_LIST_DIR})

# /etc/callproxy/callproxy.toml: assets/callproxy.toml (every setting, commented out) with the
# lines a production host wants set. Each must be in the template as `#key = default`: a template
# that lost one stops the configuration here instead of shipping a file without it.
set(template ${PROJECT_SOURCE_DIR}/assets/callproxy.toml)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${template})
file(READ ${template} package_config)
macro(package_setting key from to why)
  string(FIND "${package_config}" "\n#${key} = ${from}\n" found)
  if(found EQUAL -1)
    message(FATAL_ERROR "assets/callproxy.toml has no line '#${key} = ${from}' for the package to set")
  endif()
  string(REPLACE "\n#${key} = ${from}\n" "\n${key} = ${to}  # package: ${why}\n" package_config "${package_config}")
endmacro()
package_setting(store [["sqlite:./callproxy.db"]] [["sqlite:/var/lib/callproxy/callproxy.db"]]
                "the service's state directory")
package_setting(bind [["0.0.0.0"]] [["127.0.0.1"]] "a TLS proxy in front forwards to it")
package_setting(validate-signatures false true "every request must be Twilio's: set auth-token")
set(CALLPROXY_PACKAGE_CONFIG ${CMAKE_BINARY_DIR}/deploy/callproxy.toml)
file(WRITE ${CALLPROXY_PACKAGE_CONFIG}
"# /etc/callproxy/callproxy.toml: callproxy serve's settings, as the Debian package installs them.
#
# Three lines are set (marked \"package:\"): the SQLite store in the service's state directory,
# the listening address 127.0.0.1 for a TLS proxy in front, and Twilio's signatures checked.
# Before `systemctl enable --now callproxy`, set at least auth-token (Twilio's auth token), a PIN
# source (pins-file or pin-api) and api-key; behind a proxy, public-url. This file is readable by
# root and the callproxy group only, as it holds secrets. An upgrade keeps your changes.
#
${package_config}")

# /usr/share/doc/callproxy/changelog.gz (a native package: no changelog.Debian.gz), whose top
# entry must be this version; and callproxy(1), written from the binary's --help at build time
# (scripts/make-manpage.sh). gzip -n: no name or time stamp in the files, so a rebuild is the same.
set(changelog ${deploy_dir}/debian/changelog)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${changelog})
file(STRINGS ${changelog} changelog_top LIMIT_COUNT 1)
if(NOT changelog_top MATCHES "^callproxy \\(${PROJECT_VERSION}\\) ")
  message(FATAL_ERROR "assets/deploy/debian/changelog's top entry is '${changelog_top}', not version ${PROJECT_VERSION}: "
                      "add an entry for it")
endif()
set(CALLPROXY_CHANGELOG_GZ ${CMAKE_BINARY_DIR}/deploy/changelog.gz)
set(CALLPROXY_MANPAGE_GZ ${CMAKE_BINARY_DIR}/deploy/callproxy.1.gz)
add_custom_command(
  OUTPUT ${CALLPROXY_CHANGELOG_GZ}
  COMMAND ${CMAKE_COMMAND} -E copy ${changelog} ${CMAKE_BINARY_DIR}/deploy/changelog
  COMMAND gzip -9nf ${CMAKE_BINARY_DIR}/deploy/changelog
  DEPENDS ${changelog}
  COMMENT "changelog.gz"
  VERBATIM)
add_custom_command(
  OUTPUT ${CALLPROXY_MANPAGE_GZ}
  COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/make-manpage.sh $<TARGET_FILE:callproxy> ${CMAKE_BINARY_DIR}/deploy/callproxy.1
  COMMAND gzip -9nf ${CMAKE_BINARY_DIR}/deploy/callproxy.1
  DEPENDS callproxy ${PROJECT_SOURCE_DIR}/scripts/make-manpage.sh
  COMMENT "callproxy.1.gz from callproxy --help"
  VERBATIM)
add_custom_target(callproxy_package_docs ALL DEPENDS ${CALLPROXY_CHANGELOG_GZ} ${CALLPROXY_MANPAGE_GZ})

install(TARGETS callproxy RUNTIME DESTINATION bin)
install(FILES ${deploy_dir}/callproxy.service DESTINATION /lib/systemd/system)
install(FILES ${CALLPROXY_PACKAGE_CONFIG} DESTINATION /etc/callproxy)
# The unit's EnvironmentFile: every line a comment, naming the secrets' variables. Root's alone:
# systemd reads it before it drops to the callproxy user (a conffile: an upgrade keeps it).
install(FILES ${deploy_dir}/debian/default DESTINATION /etc/default RENAME callproxy
        PERMISSIONS OWNER_READ OWNER_WRITE)
install(FILES ${deploy_dir}/debian/copyright ${CALLPROXY_CHANGELOG_GZ} DESTINATION share/doc/callproxy)
install(FILES ${CALLPROXY_MANPAGE_GZ} DESTINATION share/man/man1)
install(FILES ${PROJECT_SOURCE_DIR}/assets/demo-pins.json DESTINATION share/doc/callproxy/examples RENAME pins.json)
# The deployment around it (docs/deploying.md): TLS in front, the dashboard, the alert rules.
install(FILES ${deploy_dir}/nginx/callproxy.conf DESTINATION share/doc/callproxy/examples RENAME nginx-callproxy.conf)
install(FILES ${deploy_dir}/grafana-dashboard.json ${deploy_dir}/prometheus-alerts.yml
        DESTINATION share/doc/callproxy/examples)
# cpack installs what is built: scripts/package.sh builds the binary alone, not the tests.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME callproxy)
set(CPACK_PACKAGE_VENDOR callproxy)
set(CPACK_PACKAGE_CONTACT "callproxy maintainers <maintainers@callproxy.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Twilio Media Streams proxy: live call audio to your own WebSocket backends")
set(CPACK_PACKAGE_DESCRIPTION
    "callproxy serve receives a Twilio call's audio over a WebSocket, decides who may get in (PINs, blocked callers)
and fans the audio out to backends (voice bots, recorders, transcribers), relaying the first one's replies to the
caller. Runs as the systemd service callproxy; settings in /etc/callproxy/callproxy.toml.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # callproxy_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# adduser: postinst. The linked libraries are added by dpkg-shlibdeps. The audio libraries that
# local-speaker and client-test open at run time (twilio/audio_libraries.cpp,
# speaker/audio_output.cpp) are not linked, so dpkg-shlibdeps cannot see them: named here, as
# Recommends, since the service (serve) never loads them; without them those two commands say
# which package to install. apt installs Recommends by default; --no-install-recommends (a
# server, a container) leaves them and ALSA, JACK and the codecs they pull in out.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libportaudio2, libsndfile1, libsamplerate0")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${deploy_dir}/debian/postinst ${deploy_dir}/debian/prerm ${deploy_dir}/debian/postrm
    ${deploy_dir}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
