// EnerLog ESP32-S3 + W5500 datalogger board definition.
// Follows micropython ports/esp32/boards/ESP32_GENERIC_S3/mpconfigboard.h
// (v1.29 line); only the REPL routing differs from that board.

#ifndef MICROPY_HW_BOARD_NAME
// Set by the variant's .cmake (MICROPY_DEF_BOARD), as in ESP32_GENERIC_S3.
#define MICROPY_HW_BOARD_NAME               "EnerLog ESP32-S3 (W5500)"
#endif
#define MICROPY_HW_MCU_NAME                 "ESP32-S3"

// REPL on native USB only.
// All three hardware UARTs (UART0, UART1, UART2) drive RS485 Modbus buses.
// A UART that carries the REPL turns every received 0x03 byte (Ctrl-C) into a
// KeyboardInterrupt, and Modbus RTU frames contain 0x03 all the time (the
// "read holding registers" function code, plus arbitrary data bytes), so the
// REPL must not sit on any UART. ESP32_GENERIC_S3 sets this to (1), putting the
// REPL on UART0 (GPIO43/44) in parallel with USB; (0) leaves USB as the only
// REPL: TinyUSB CDC by default on the S3 (MICROPY_HW_USB_CDC, see the port's
// mpconfigport.h), so MICROPY_HW_UART_REPL / _BAUD are then unused.
//
// With this off, nothing in MicroPython itself claims UART0 any more: main.c
// skips uart_stdout_init(), and machine_uart.c's uart_is_repl() returns false,
// so machine.UART(0) installs the normal IDF driver (buffer sizes settable).
// Its default pins are MICROPY_HW_UART0_TX/RX = UART_PIN_NO_CHANGE, i.e. the
// IOMUX pins GPIO43 (TX) / GPIO44 (RX); pass tx=/rx= explicitly to be safe.
// What still uses GPIO43 (U0TXD):
//  - ESP-IDF's console (default: UART0) for bootloader/app logs and panic
//    dumps; sdkconfig.board in this directory sets CONFIG_ESP_CONSOLE_NONE so
//    those bytes never land on the RS485-3 bus.
//  - The chip's ROM boot messages on every reset (115200 baud). Firmware cannot
//    turn that off (only strapping/eFuse can), so the RS485-3 driver-enable
//    line must default to receive (pull-down on DE) until the app drives it.
// Never hand a Modbus UART to os.dupterm(): that would bring the 0x03 problem
// back.
#define MICROPY_HW_ENABLE_UART_REPL         (0)

// Same machine.I2C(0) defaults as ESP32_GENERIC_S3 (only used when no pins are
// given).
#define MICROPY_HW_I2C0_SCL                 (9)
#define MICROPY_HW_I2C0_SDA                 (8)
