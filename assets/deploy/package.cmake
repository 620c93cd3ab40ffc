# The Debian package (cpack -G DEB, or scripts/package.sh from the release preset): the binary,
# a hardened systemd unit, the default settings as a conffile, a `callproxy` system user and
# its state directory. Dependencies are computed from the binary (dpkg-shlibdeps), plus the
# libraries it opens at run time.

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

install(TARGETS callproxy RUNTIME DESTINATION bin)
install(FILES ${deploy_dir}/callproxy.service DESTINATION /lib/systemd/system)
install(FILES ${CALLPROXY_PACKAGE_CONFIG} DESTINATION /etc/callproxy)
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
# adduser: postinst. The linked libraries are added by dpkg-shlibdeps; the audio libraries that
# local-speaker and client-test open at run time (twilio/audio_libraries.cpp,
# speaker/audio_output.cpp) are not linked, so dpkg-shlibdeps cannot see them: named here.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, libportaudio2, libsndfile1, libsamplerate0")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${deploy_dir}/debian/postinst ${deploy_dir}/debian/prerm ${deploy_dir}/debian/postrm
    ${deploy_dir}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
